package logs

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/syncbuf"
)

// TestRunAppScaledToZero: the logs of an app that runs 0 replicas say so,
// where --no-follow sent the user to check the app's name and namespace
// and a follower waited without a word why (an app-developer audit); so do
// those of an app in a namespace that does not exist (a typo in -n). An
// app with replicas but no pod yet, or no Deployment at all, is as before.
func TestRunAppScaledToZero(t *testing.T) {
	deployment := func(replicas int32) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "ns"}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)}}
	}
	const zero = "app cart runs 0 replicas in namespace ns of context east, so no pod has logs: kubectl zz scale cart --replicas N starts some"
	for _, tc := range []struct {
		name       string
		deployment *appsv1.Deployment
		want       string // in the error and the follower's note; "" for none
		absent     bool   // namespace ns does not exist
	}{
		{"scaled to 0", deployment(0), zero, false},
		{"replicas, no pod yet", deployment(2), "", false},
		{"no Deployment", nil, "", false},
		{"no namespace", nil, "context east: namespace ns does not exist", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := func(follow bool, errOut io.Writer) *Config {
				objs := []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}}
				if tc.absent {
					objs = nil
				}
				if tc.deployment != nil {
					objs = append(objs, tc.deployment)
				}
				client := fake.NewClientset(objs...)
				return &Config{
					Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns"}}},
					App:      "cart", LabelSelector: contract.LabelApp + "=cart", Format: Format{Output: OutputRaw},
					Follow: follow, Tail: -1, Out: io.Discard, ErrOut: errOut, OpenStream: newFakeKubelet().open,
				}
			}
			err := Run(t.Context(), cfg(false, io.Discard))
			if !errors.Is(err, ErrNoMatch) || tc.want != "" && !strings.Contains(err.Error(), tc.want) || tc.want == "" && err != ErrNoMatch {
				t.Errorf("--no-follow: Run = %v; want ErrNoMatch saying %q", err, tc.want)
			}
			var errOut syncbuf.Buffer
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- Run(ctx, cfg(true, &errOut)) }()
			waitFor(t, "the note that it waits", func() bool { return strings.Contains(errOut.String(), "Ctrl-C to stop") })
			cancel()
			<-done
			if got := errOut.String(); tc.want != "" && !strings.Contains(got, tc.want) || tc.want == "" && strings.Contains(got, "replicas") {
				t.Errorf("following: stderr %q; want %q", got, tc.want)
			}
		})
	}
}
