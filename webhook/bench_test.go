package webhook

import (
	"net/http"
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// BenchmarkMutate measures one review through the in-process handler
// (decode, namespace lookup, mutate, patch, encode) for a pod with a
// sidecar, lxcfs mounts and GPU routing, and reports p50 and p99 latency.
func BenchmarkMutate(b *testing.B) {
	h := newTestHandler(b, examplePolicy(b))
	pod := testPod()
	pod.Labels[contract.LabelGroup] = "retail"
	pod.Annotations = map[string]string{"zz.io/log-agent": "yes"}
	pod.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMem] = mustQuantity("8Gi")
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}}
	body := reviewBody(b, "shop", podResource, admissionv1.Create, pod)
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		start := time.Now()
		rec := post(h, body, "application/json")
		lat = append(lat, time.Since(start))
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d %s", rec.Code, rec.Body)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
