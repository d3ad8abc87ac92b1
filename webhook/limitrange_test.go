package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
)

// createReview is a review of pod's creation in ns that is no dry run.
func createReview(t *testing.T, ns string, pod *corev1.Pod) []byte {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "uid-1", Namespace: ns, Resource: podResource,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// overcommitPod asks for cpu 500m in pool general (bench policy: 0.5).
func overcommitPod() *corev1.Pod {
	pod := testPod()
	pod.Labels[contract.LabelPool] = "general"
	q := resource.MustParse("500m")
	pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q},
		Requests: corev1.ResourceList{corev1.ResourceCPU: q}}
	return pod
}

// TestMutateClampsToNamespaceLimitRange: in a namespace whose LimitRange
// wants min cpu 300m per container, the 0.5 pool's pod of cpu 500m gets a
// request of 300m (not 250m, which the LimitRanger refused: the incident
// audit's repro), with a warning, and the clamp is counted; the namespace
// without LimitRanges keeps 250m.
func TestMutateClampsToNamespaceLimitRange(t *testing.T) {
	p, err := inject.Parse([]byte(benchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, p)
	for _, tc := range []struct {
		ns, request string
		clamps      float64
	}{{"shop", `"250m"`, 0}, {"shop-quota", `"300m"`, 1}} {
		resp := response(t, post(h, createReview(t, tc.ns, overcommitPod()), "application/json"))
		warned := strings.Contains(strings.Join(resp.Warnings, "\n"), "the CPU request of container app was raised from 250m")
		if !resp.Allowed || !strings.Contains(string(resp.Patch), tc.request) || warned != (tc.clamps > 0) {
			t.Errorf("namespace %s: allowed %v, patch %s, warnings %q; want request %s", tc.ns, resp.Allowed, resp.Patch, resp.Warnings, tc.request)
		}
		if got := testutil.ToFloat64(h.Metrics.Clamps.WithLabelValues(inject.ConstraintMin)); got != tc.clamps {
			t.Errorf("namespace %s: %v clamps counted, want %v", tc.ns, got, tc.clamps)
		}
	}
	// A dry run is clamped and not counted.
	resp := response(t, post(h, reviewBody(t, "shop-quota", podResource, admissionv1.Create, overcommitPod()), "application/json"))
	if !strings.Contains(string(resp.Patch), `"300m"`) || testutil.ToFloat64(h.Metrics.Clamps.WithLabelValues(inject.ConstraintMin)) != 1 {
		t.Errorf("dry run: patch %s, clamps %v; want 300m, still 1", resp.Patch, testutil.ToFloat64(h.Metrics.Clamps.WithLabelValues(inject.ConstraintMin)))
	}
}

// TestLimitRangesUnread: before the informer's first list, a review is
// answered unclamped with a warning (not blocked), and Ready says why
// /readyz fails.
func TestLimitRangesUnread(t *testing.T) {
	synced := false
	if _, err := limitRangesIn(testLimitRanges, func() bool { return synced }, "shop-quota"); err != errLimitRangesUnread {
		t.Fatalf("before the first list: %v, want %v", err, errLimitRangesUnread)
	}
	n := &Namespaces{limitRangesSynced: func() bool { return synced }}
	if _, err := n.Ready(); err == nil {
		t.Fatal("Ready before the first list: nil")
	}
	p, err := inject.Parse([]byte(benchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, p)
	h.LimitRanges = n.LimitRanges
	n.limitRanges = testLimitRanges
	resp := response(t, post(h, createReview(t, "shop-quota", overcommitPod()), "application/json"))
	if !resp.Allowed || !strings.Contains(string(resp.Patch), `"250m"`) ||
		!strings.Contains(strings.Join(resp.Warnings, "\n"), "not checked against the namespace's LimitRanges (zz-webhook has not listed the LimitRanges yet)") {
		t.Errorf("unsynced: allowed %v, patch %s, warnings %q", resp.Allowed, resp.Patch, resp.Warnings)
	}
	synced = true
	if _, err := n.Ready(); err != nil {
		t.Fatalf("Ready after the first list: %v", err)
	}
	if resp := response(t, post(h, createReview(t, "shop-quota", overcommitPod()), "application/json")); !strings.Contains(string(resp.Patch), `"300m"`) {
		t.Errorf("synced: patch %s, want 300m", resp.Patch)
	}
}

// TestLimitRangesForbidden: a ClusterRole without list and watch on
// limitranges (an image upgraded without its RBAC) leaves the webhook ready
// and says why in /readyz's detail; its reviews are answered unclamped and
// warned. It never became ready (a review): under failurePolicy Fail no pod
// of an opted-in namespace could be created, for a refinement.
func TestLimitRangesForbidden(t *testing.T) {
	c := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop-quota"}})
	c.PrependReactor("list", "limitranges", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "limitranges"}, "", errors.New(`User "system:serviceaccount:zz-system:zz-webhook" cannot list resource "limitranges"`))
	})
	n := NewNamespaces(c)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- n.Run(ctx) }()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v (it waits for the LimitRanges' list or its refusal)", err)
	}
	detail, err := n.Ready()
	if err != nil || !strings.Contains(detail, "LimitRanges unread: zz-webhook may not list LimitRanges (its ClusterRole lacks list and watch on limitranges") {
		t.Fatalf("Ready() = %q, %v; want ready, saying the refusal", detail, err)
	}
	p, err := inject.Parse([]byte(benchPolicy))
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHandler(t, p)
	h.LimitRanges = n.LimitRanges
	resp := response(t, post(h, createReview(t, "shop-quota", overcommitPod()), "application/json"))
	if !resp.Allowed || !strings.Contains(string(resp.Patch), `"250m"`) ||
		!strings.Contains(strings.Join(resp.Warnings, "\n"), "not checked against the namespace's LimitRanges (zz-webhook may not list LimitRanges") {
		t.Errorf("forbidden: allowed %v, patch %s, warnings %q", resp.Allowed, resp.Patch, resp.Warnings)
	}
	// kubectl zz check's probe is told it cannot read them, not that it
	// raises requests to them (note 35).
	probe := overcommitPod()
	probe.Annotations = map[string]string{contract.AnnotationCheckProbe: "true"}
	resp = response(t, post(h, reviewBody(t, "shop-quota", podResource, admissionv1.Create, probe), "application/json"))
	answer := strings.Join(resp.Warnings, "\n")
	if !strings.Contains(answer, contract.WebhookProbeAnswer) || !strings.Contains(answer, contract.WebhookLimitRangesUnread+": zz-webhook may not list LimitRanges") ||
		strings.Contains(answer, contract.WebhookRaisesToLimitRanges) {
		t.Errorf("probe answer %q; want it to say it cannot read LimitRanges", answer)
	}
}

// TestLimitRangesForbiddenOnce: one refusal to list the LimitRanges (a
// chart upgrade's new pod listing before the apiserver's authorizer has the
// new rule) does not make the webhook ready unclamped: it waits for the
// retry's list, and clamps (review 36 #9: ready with the clamp off until the
// next list, up to the reflector's backoff).
func TestLimitRangesForbiddenOnce(t *testing.T) {
	c := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop-quota"}})
	var lists atomic.Int32
	c.PrependReactor("list", "limitranges", func(clienttesting.Action) (bool, runtime.Object, error) {
		if lists.Add(1) == 1 {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "limitranges"}, "", errors.New(`User "system:serviceaccount:zz-system:zz-webhook" cannot list resource "limitranges"`))
		}
		return false, nil, nil
	})
	n := NewNamespaces(c)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if detail, err := n.Ready(); err != nil || detail != "" {
		t.Errorf("Ready() = %q, %v after one refusal and a list; want ready, the LimitRanges read", detail, err)
	}
	if _, err := n.LimitRanges("shop-quota"); err != nil {
		t.Errorf("LimitRanges: %v; want them read", err)
	}
}
