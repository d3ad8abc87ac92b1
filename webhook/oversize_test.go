package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// sidecarPod is a pod of n native sidecars (init containers that keep
// running) and one container, each with env: the shape of the pod a
// hostile-tenant audit sent, which the apiserver took and whose defaulted
// review was over the webhook's limit.
func sidecarPod(n int) *corev1.Pod {
	pod := testPod()
	always := corev1.ContainerRestartPolicyAlways
	for i := range n {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: fmt.Sprintf("s%d", i), Image: "busybox:1",
			RestartPolicy: &always, Env: []corev1.EnvVar{{Name: "A", Value: strings.Repeat("x", 200)}},
			TerminationMessagePath: corev1.TerminationMessagePathDefault, ImagePullPolicy: corev1.PullIfNotPresent})
	}
	return pod
}

// TestScanOversize: the scan finds request.uid (not the pod's own uid nor
// the user's) and counts the pod's containers of every kind, wherever the
// fields come in the object, whatever the literals around them.
func TestScanOversize(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		uid        types.UID
		containers int
		fails      bool
	}{
		{name: "a review", body: string(reviewBody(t, "shop", podResource, admissionv1.Create, sidecarPod(3))), uid: "uid-1", containers: 4},
		{name: "uid last, after the object and userInfo",
			body: `{"request":{"object":{"metadata":{"uid":"pod"},"spec":{"containers":[{},{"a":[1,2,true]}],"ephemeralContainers":[{}],"x":[null,1.5e3]}},"userInfo":{"uid":"user"},"uid":"u-\"9"}}`,
			uid:  `u-\"9`, containers: 3},
		{name: "containers elsewhere are not the pod's", body: `{"request":{"uid":"u","containers":[{}],"object":{"containers":[{}],"spec":{"x":{"containers":[{}]}}}}}`, uid: "u"},
		{name: "not a review", body: `[1,2,{"uid":"x"}]`},
		{name: "nothing", body: ``},
		{name: "cut short", body: `{"request":{"uid":"u","object":{"spec":{"containers":[{"name":"a`, uid: "u", fails: true},
		{name: "too deep", body: strings.Repeat("[", maxScanDepth+1), fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanOversize(strings.NewReader(tc.body))
			if (err != nil) != tc.fails || got.uid != tc.uid || got.containers != tc.containers {
				t.Errorf("got uid %q, %d containers, err %v; want %q, %d, failing %v", got.uid, got.containers, err, tc.uid, tc.containers, tc.fails)
			}
		})
	}
}

// TestOversizeReviewRefusedWithReason: a review over MaxBodyBytes is
// answered with a refusal that names its size, its containers and the fix
// (the apiserver shows it to the pod's author, where a bare 413 read "did
// not return more information"), with a few KiB of allocation whatever its
// size; one that is no review, or over the scan's bound, still gets 413.
func TestOversizeReviewRefusedWithReason(t *testing.T) {
	limits := DefaultLimits
	limits.MaxBodyBytes, limits.SmallBodyBytes, limits.MaxLargeBytes = 2<<20, 64<<10, 4<<20
	big := reviewBody(t, "shop", podResource, admissionv1.Create, sidecarPod(8000))
	if len(big) <= 2<<20 || len(big) > oversizeScanFactor*2<<20 {
		t.Fatalf("the pod's review is %d bytes, not over the limit and within the scan's bound", len(big))
	}
	for _, tc := range []struct {
		name string
		body []byte
		code int
		want string
	}{
		{"a pod of 8000 sidecars", big, 200, fmt.Sprintf(`zz-webhook: the pod's admission review is %d bytes (8001 containers); zz-webhook reads at most 2097152: split the pod or raise --max-review-bytes`, len(big))},
		{"not a review", bytes.Repeat([]byte(" "), 2<<20+1), 413, "zz-webhook reads at most 2097152: split the pod"},
		{"over the scan's bound", append(big, bytes.Repeat([]byte(" "), oversizeScanFactor*2<<20)...), 413, "zz-webhook reads at most 2097152: split the pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t, examplePolicy(t))
			h.Limits = limits
			req := httptest.NewRequest(http.MethodPost, "/mutate-pods", bytes.NewReader(tc.body))
			rec := httptest.NewRecorder()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h.ServeHTTP(rec, req)
			runtime.ReadMemStats(&after)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("HTTP %d %.400q, want %d containing %q", rec.Code, rec.Body, tc.code, tc.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<10 {
				t.Errorf("answering a %d KiB review allocated %d KiB: it is scanned, not read into memory", len(tc.body)>>10, alloc>>10)
			}
			if tc.code != 200 {
				return
			}
			denied, tooLarge := testutil.ToFloat64(h.Metrics.Reviews.WithLabelValues(resultDenied)), testutil.ToFloat64(h.Metrics.Rejected.WithLabelValues("too-large"))
			if denied != 1 || tooLarge != 1 || testutil.ToFloat64(h.Metrics.Reviews.WithLabelValues(resultError)) != 0 {
				t.Errorf("a pod refused as too large counted %v denied, %v too-large; want 1 each and no error", denied, tooLarge)
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil {
				t.Fatalf("not a review: %v %s", err, rec.Body)
			}
			if r := review.Response; r.UID != "uid-1" || r.Allowed || r.Result == nil || r.Result.Reason != metav1.StatusReasonRequestEntityTooLarge ||
				review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
				t.Errorf("response %+v of %s/%s, want uid-1 refused as RequestEntityTooLarge", r, review.APIVersion, review.Kind)
			}
		})
	}
}

// FuzzScanOversize: the scan never panics, and on every body that decodes
// as a review of a pod it finds the decoder's uid and container count.
func FuzzScanOversize(f *testing.F) {
	f.Add(reviewBody(f, "shop", podResource, admissionv1.Create, sidecarPod(2)))
	f.Add([]byte(`{"request":{"uid":"u","object":{"spec":{"containers":[{}],"initContainers":[{},{}]}}}}`))
	f.Add([]byte(`{"request":{"object":{"spec":{"containers":[]}},"uid":"a\"b"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := scanOversize(bytes.NewReader(body))
		var review podReview
		if json.Unmarshal(body, &review) != nil || review.Request == nil || err != nil {
			return
		}
		want := 0
		if pod := review.Request.Object.pod(); pod != nil {
			want = len(pod.Spec.Containers) + len(pod.Spec.InitContainers) + len(pod.Spec.EphemeralContainers)
		}
		if uid := review.Request.UID; len(uid) < 64 && !strings.Contains(string(body), `\`) && got.uid != uid || got.containers != want {
			t.Fatalf("scanned uid %q, %d containers; decoded %q, %d", got.uid, got.containers, review.Request.UID, want)
		}
	})
}
