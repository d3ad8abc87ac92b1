package webhook

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
)

// benchPolicy is TestBenchWebhook's (test/e2e): a pool with CPU overcommit,
// a sidecar only for pods that ask for it.
const benchPolicy = `cluster: bench
environment: e2e
largestGPUCard: 80Gi
pools:
  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 0.5}
sidecars:
- when: {annotations: {zz.io/log-agent: "*"}}
  container:
    name: log-agent
    image: registry.local/log-agent:1
    args: ["--app={{.App}}", "--namespace={{.Namespace}}"]
    resources: {limits: {cpu: 100m, memory: 64Mi}}
`

// BenchmarkMutate measures one review through the in-process handler
// (decode, namespace lookup, mutate, patch, encode) and reports p50 and p99
// latency: "plain" is the review the apiserver sent for TestBenchWebhook's
// pod (env, pool, overcommit, no sidecar), recorded; "plain-minimal" the same
// pod built here with the defaults but without the service account's volume
// and managedFields (the figures before the recording);
// "minimal-limitrange-clamp" that pod at cpu 500m in a namespace whose
// LimitRange raises its request (250m to 300m); "sidecar-lxcfs-gpu"
// a pod with a sidecar, lxcfs mounts and GPU routing.
func BenchmarkMutate(b *testing.B) {
	full := testPod()
	full.Labels[contract.LabelGroup] = "retail"
	full.Annotations = map[string]string{"zz.io/log-agent": "yes"}
	full.Spec.Containers[0].Resources.Limits[contract.ResourceGPUMem] = mustQuantity("8Gi")
	full.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}}
	plainPolicy, err := inject.Parse([]byte(benchPolicy))
	if err != nil {
		b.Fatal(err)
	}
	// The review the apiserver sent for TestBenchWebhook's pod, recorded from
	// it (only the namespace renamed): defaults, the service account's
	// projected volume and managedFields included.
	recorded, err := os.ReadFile("testdata/apiserver-review.json")
	if err != nil {
		b.Fatal(err)
	}
	clamped := defaultedPod()
	clamped.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = mustQuantity("500m")
	clamped.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = mustQuantity("500m")
	for _, c := range []struct {
		name   string
		policy *inject.Policy
		body   []byte
	}{
		{"plain", plainPolicy, recorded},
		{"plain-minimal", plainPolicy, reviewBody(b, "shop", podResource, admissionv1.Create, defaultedPod())},
		{"minimal-limitrange-clamp", plainPolicy, reviewBody(b, "shop-quota", podResource, admissionv1.Create, clamped)},
		{"sidecar-lxcfs-gpu", examplePolicy(b), reviewBody(b, "shop", podResource, admissionv1.Create, full)},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := newTestHandler(b, c.policy)
			body := c.body
			lat := make([]time.Duration, 0, 1<<16)
			// The request as net/http hands it over (headers parsed, body
			// a reader): the handler alone is timed, not httptest's 4 KiB
			// request parser and recorder, which doubled the garbage.
			req, err := http.NewRequest(http.MethodPost, "/mutate-pods", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.ContentLength = int64(len(body))
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				w := benchWriter{header: http.Header{}}
				req.Body = io.NopCloser(bytes.NewReader(body))
				start := time.Now()
				h.ServeHTTP(&w, req)
				lat = append(lat, time.Since(start))
				if w.code != http.StatusOK || w.n == 0 {
					b.Fatalf("HTTP %d, %d bytes", w.code, w.n)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// defaultedPod is TestBenchWebhook's pod with the defaults the apiserver
// has applied by the time it calls the webhook, without what its admission
// plugins add (the service account's volume) or managedFields: "plain" is
// the review the apiserver really sends.
func defaultedPod() *corev1.Pod {
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("256Mi")}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-", Namespace: "shop",
			Labels: map[string]string{contract.LabelApp: "bench", contract.LabelGroup: "retail", contract.LabelPool: "general"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.local/bench:1",
				Resources:                corev1.ResourceRequirements{Limits: limits, Requests: limits.DeepCopy()},
				TerminationMessagePath:   corev1.TerminationMessagePathDefault,
				TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent}},
			RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr.To[int64](30),
			DNSPolicy: corev1.DNSClusterFirst, ServiceAccountName: "default", SecurityContext: &corev1.PodSecurityContext{},
			SchedulerName: "zz-bench-nobody", EnableServiceLinks: ptr.To(true), PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority),
			Priority: ptr.To[int32](0),
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}},
		},
	}
}

// benchWriter is a ResponseWriter that keeps the status and counts the
// bytes, as a server connection would before they reach the socket.
type benchWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *benchWriter) Header() http.Header { return w.header }

func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}
