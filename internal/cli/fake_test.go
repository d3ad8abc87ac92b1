package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/render"
)

// fakeClusters is a kubeconfig of contexts a and b (namespaces ns-a, ns-b)
// whose clients are the given fake clientsets (keyed by context).
const fakeKubeconfig = `apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://a.invalid"}}
- {name: b, cluster: {server: "https://b.invalid"}}
users: [{name: u, user: {token: x}}]
contexts:
- {name: a, context: {cluster: a, user: u, namespace: ns-a}}
- {name: b, context: {cluster: b, user: u, namespace: ns-b}}
current-context: a
`

// withFakeClusters makes commands reach the fake clientsets a and b and
// returns a runner of kubectl zz with that kubeconfig.
func withFakeClusters(t *testing.T, a, b kubernetes.Interface) func(args ...string) (stdout, stderr string, err error) {
	t.Helper()
	old := newClientset
	t.Cleanup(func() { newClientset = old })
	newClientset = func(cfg *rest.Config) (kubernetes.Interface, error) {
		switch cfg.Host {
		case "https://a.invalid":
			return a, nil
		case "https://b.invalid":
			return b, nil
		}
		return nil, fmt.Errorf("no fake cluster at %s", cfg.Host)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fakeKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	// kubectl's cache (list and status keep drift verdicts there) in the
	// test's own folder: never the user's, nor another test's.
	cache := t.TempDir()
	return func(args ...string) (string, string, error) {
		streams, in, out, errOut := genericiooptions.NewTestIOStreams()
		in.WriteString(fakeStdin)
		root := NewCmdZZ(streams)
		root.SetArgs(append([]string{"--kubeconfig", kubeconfig, "--cache-dir", cache}, args...))
		err := root.Execute()
		return out.String(), errOut.String(), err
	}
}

// fakeStdin is what the commands withFakeClusters runs read on stdin.
var fakeStdin string

// revisionSecret is the record of revision n of app (no objects), as deploy
// writes it.
func revisionSecret(t testing.TB, ns, app string, n int64, version, user, cause string, at time.Time) *corev1.Secret {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte("[]")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: deploy.RecordName(app, n), Namespace: ns,
			Labels: map[string]string{
				contract.LabelApp: app, contract.LabelRevision: strconv.FormatInt(n, 10),
				contract.LabelVersion: version, contract.LabelK8sManagedBy: contract.ManagedBy,
			},
			Annotations: map[string]string{
				contract.AnnotationImage: "reg/" + app + ":" + version, contract.AnnotationDeployedBy: user,
				contract.AnnotationDeployedAt: at.UTC().Format(time.RFC3339), contract.AnnotationChangeCause: cause,
			},
		},
		Type: corev1.SecretType(contract.SecretTypeRevision),
		Data: map[string][]byte{"objects.json.gz": buf.Bytes()},
	}
}

// fakeClient is a fake clientset holding objs.
func fakeClient(objs ...runtime.Object) *fake.Clientset {
	// The kubeconfig's namespaces exist (a namespace that does not is said:
	// TestAbsentNamespace).
	for _, ns := range []string{"ns-a", "ns-b"} {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	return fake.NewClientset(objs...)
}

// deployment is app's Deployment as deploy renders it, with a status.
func fakeDeployment(ns, name, app, version string, replicas, ready int32) *appsv1.Deployment {
	track := contract.TrackStable
	if name == app+contract.CanarySuffix {
		track = contract.TrackCanary
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			contract.LabelApp: app, contract.LabelVersion: version, contract.LabelK8sManagedBy: contract.ManagedBy, contract.LabelTrack: track,
		}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: contract.ManagedBy, Operation: metav1.ManagedFieldsOperationApply}}},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: render.ContainerName, Image: "reg/" + app + ":" + version}},
		}}},
		Status: appsv1.DeploymentStatus{Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: ready, AvailableReplicas: ready},
	}
}

// runAsync runs a command's Run in the background, as cobra would with a
// context; stop cancels that context (Ctrl-C) and returns Run's error.
func runAsync(t *testing.T, run func(*cobra.Command) error) (stop func() error) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	cmd := &cobra.Command{}
	cmd.SetContext(ctx)
	go func() { done <- run(cmd) }()
	return func() error {
		cancel()
		return <-done
	}
}
