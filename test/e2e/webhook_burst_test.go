package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/serve"
)

// reviewOf is the AdmissionReview the apiserver sends for creating pod in ns.
func reviewOf(t *testing.T, ns string, pod *corev1.Pod) []byte {
	t.Helper()
	pod.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: types.UID("burst-" + pod.Name), Namespace: ns, Name: pod.Name,
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shippedMemoryLimit is the webhook Deployment's container memory limit.
func shippedMemoryLimit(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(cluster.Root, "manifests", "webhook", "webhook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := yaml.Unmarshal([]byte(strings.SplitN(string(raw), "\n---\n", 2)[0]), &dep); err != nil {
		t.Fatal(err)
	}
	return dep.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().Value()
}

// procStatus reads a kB field (VmRSS, VmHWM) of /proc/PID/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestWebhookBurst sends the webhook, run with the Deployment's memory limit
// as it is given in the cluster (MEMORY_LIMIT from the downward API, hence
// GOMEMLIMIT), a burst of 50 concurrent 3 MiB reviews, the biggest pods the
// apiserver takes, while ordinary pods keep coming: its peak RSS stays under
// the limit, every ordinary review is answered (p99 against a quiet
// baseline), and a 10 MiB body is refused with 413 before it is sent.
func TestWebhookBurst(t *testing.T) {
	limit := shippedMemoryLimit(t)
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv(serve.EnvMemoryLimit, strconv.FormatInt(limit, 10))
	w := startWebhook(t, fmt.Sprintf(webhookPolicy, "burst", "0.5"))
	ns := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	pid := w.proc.Pid()

	small := reviewOf(t, ns, appPod("ordinary", "1"))
	bigPod := appPod("big", "1")
	for i := 0; len(bigPod.Spec.Containers[0].Env)*100 < 3<<20; i++ {
		bigPod.Spec.Containers[0].Env = append(bigPod.Spec.Containers[0].Env,
			corev1.EnvVar{Name: fmt.Sprintf("VAR_%06d", i), Value: strings.Repeat("x", 76)})
	}
	big := reviewOf(t, ns, bigPod)
	post := func(body []byte) (int, time.Duration, error) {
		start := time.Now()
		resp, err := w.client.Post(w.url("/mutate-pods"), "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, time.Since(start), err
		}
		defer resp.Body.Close()
		var review admissionv1.AdmissionReview
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || review.Response == nil || !review.Response.Allowed {
				return resp.StatusCode, time.Since(start), fmt.Errorf("reply %+v: %v", review.Response, err)
			}
		}
		return resp.StatusCode, time.Since(start), nil
	}
	ordinary := func(stop <-chan struct{}, n int) []time.Duration {
		var lat []time.Duration
		for i := 0; n == 0 || i < n; i++ {
			select {
			case <-stop:
				return lat
			default:
			}
			code, d, err := post(small)
			if err != nil || code != http.StatusOK {
				t.Errorf("an ordinary review: HTTP %d %v", code, err)
				return lat
			}
			lat = append(lat, d)
		}
		return lat
	}
	p99 := func(lat []time.Duration) time.Duration {
		slices.Sort(lat)
		return lat[len(lat)*99/100]
	}
	baseline := ordinary(nil, 300)
	rssQuiet := procStatus(t, pid, "VmRSS")

	// The burst, with 4 clients of ordinary pods alongside.
	stop := make(chan struct{})
	var during []time.Duration
	var mu sync.Mutex
	var side sync.WaitGroup
	for range 4 {
		side.Go(func() {
			lat := ordinary(stop, 0)
			mu.Lock()
			during = append(during, lat...)
			mu.Unlock()
		})
	}
	var served, busy atomic.Int32
	var burst sync.WaitGroup
	start := time.Now()
	for range 50 {
		burst.Go(func() {
			code, _, err := post(big)
			switch {
			case err != nil:
				t.Errorf("a 3 MiB review: %v", err)
			case code == http.StatusOK:
				served.Add(1)
			case code == http.StatusTooManyRequests:
				busy.Add(1)
			default:
				t.Errorf("a 3 MiB review: HTTP %d", code)
			}
		})
	}
	burst.Wait()
	took := time.Since(start)
	close(stop)
	side.Wait()
	peak := procStatus(t, pid, "VmHWM")
	t.Logf("RESULT webhook burst: 50 concurrent %d KiB reviews in %s: %d served, %d told to retry (429); peak RSS %d MiB of the %d MiB limit (%.2f; quiet %d MiB)",
		len(big)>>10, took.Round(time.Millisecond), served.Load(), busy.Load(), peak>>20, limit>>20, float64(peak)/float64(limit), rssQuiet>>20)
	t.Logf("RESULT ordinary reviews: p99 %s quiet (%d), %s during the burst (%d); ratio %.2f",
		p99(baseline), len(baseline), p99(during), len(during), float64(p99(during))/float64(p99(baseline)))
	if peak >= limit {
		t.Errorf("peak RSS %d MiB reached the container's limit %d MiB", peak>>20, limit>>20)
	}
	if served.Load() == 0 {
		t.Errorf("no 3 MiB review was served")
	}
	if len(during) == 0 {
		t.Errorf("no ordinary review was answered during the burst")
	}

	// 10 MiB: refused from its headers, before a byte of the body is sent.
	conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(w.port)), w.client.Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start = time.Now()
	fmt.Fprintf(conn, "POST /mutate-pods HTTP/1.1\r\nHost: zz-webhook\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 10<<20)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a 10 MiB review got no answer before its body was sent: %v", err)
	}
	resp.Body.Close()
	t.Logf("RESULT 10 MiB review: HTTP %d after %s, body not sent", resp.StatusCode, time.Since(start).Round(time.Microsecond))
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 10 MiB review: HTTP %d, want 413", resp.StatusCode)
	}
	if m := w.metrics(t); !strings.Contains(m, `zz_webhook_reviews_rejected_total{reason="too-large"} 1`) {
		t.Errorf("/metrics does not count the refused review")
	}
}
