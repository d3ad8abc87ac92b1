package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/inject"
)

// maxBody bounds a review: the apiserver refuses objects over 3 MiB, and a
// review holds the object (and, for updates, the old one).
const maxBody = 8 << 20

// Handler serves /mutate-pods and the health endpoints.
type Handler struct {
	// Policy returns the policy in force (nil before the first valid one).
	Policy func() *inject.Policy
	// NamespaceLabels returns a namespace's labels (an informer cache).
	NamespaceLabels func(ctx context.Context, name string) (map[string]string, error)
	// Ready explains why the webhook is not ready (nil when ready) and
	// details the policy's state either way.
	Ready        func() (detail string, err error)
	OwnNamespace string
	Metrics      *Metrics
	mux          *http.ServeMux
}

// NewHandler wires the routes.
func NewHandler(h Handler) *Handler {
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST /mutate-pods", h.mutate)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	h.mux.HandleFunc("GET /readyz", h.readyz)
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(h.Metrics.Registry, promhttp.HandlerOpts{}))
	return &h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	detail, err := h.Ready()
	if err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok: "+detail+"\n")
}

// mutate does the I/O of a review: limits, content type, decode, the
// namespace's labels; the decision is admitPod's.
func (h *Handler) mutate(w http.ResponseWriter, r *http.Request) {
	start, result := time.Now(), resultError
	defer func() { h.Metrics.observe(result, start) }()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			http.Error(w, fmt.Sprintf("content type %q is not supported; send application/json", ct), http.StatusUnsupportedMediaType)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "cannot read the review: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	review, err := decodeReview(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := review.Request
	logger := klog.FromContext(r.Context()).WithValues("uid", req.UID, "pod", klog.KRef(req.Namespace, req.Name), "dryRun", req.DryRun != nil && *req.DryRun)
	var resp *admissionv1.AdmissionResponse
	if reason := skipReason(req, h.OwnNamespace); reason != "" {
		resp, result = allow(req), resultSkipped
		logger.V(4).Info("Skipped", "reason", reason, "resource", req.Resource)
	} else {
		labels, err := h.NamespaceLabels(r.Context(), req.Namespace)
		if err != nil {
			http.Error(w, fmt.Sprintf("cannot read namespace %s: %v", req.Namespace, err), http.StatusServiceUnavailable)
			return
		}
		policy := h.Policy()
		switch {
		case !optedIn(labels):
			resp, result = allow(req), resultSkipped
		case policy == nil:
			// A 503 lets the configuration's failurePolicy decide.
			_, why := h.Ready()
			http.Error(w, fmt.Sprintf("zz-webhook has no valid policy yet: %v", why), http.StatusServiceUnavailable)
			return
		default:
			resp, result = admitPod(req, policy)
			logger.V(2).Info("Admitted", "result", result, "patchBytes", len(resp.Patch))
			if result == resultDenied {
				logger.Info("Refused a pod", "reason", resp.Result.Message)
			}
		}
	}
	review.Request, review.Response = nil, resp
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(review); err != nil {
		logger.V(2).Info("Could not write the reply", "err", err)
	}
}

// Metrics are the webhook's Prometheus metrics, in their own registry.
type Metrics struct {
	Registry *prometheus.Registry
	Reviews  *prometheus.CounterVec
	Latency  *prometheus.HistogramVec
}

// NewMetrics registers the webhook's metrics plus Go and process collectors.
func NewMetrics(extra ...prometheus.Collector) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zz_webhook_admissions_total", Help: "Admission reviews by result (patched, unchanged, skipped, denied, error).",
		}, []string{"result"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "zz_webhook_admission_duration_seconds", Help: "Time to answer an admission review, from request to reply.",
			Buckets: prometheus.ExponentialBuckets(0.00002, 2, 18),
		}, []string{"result"}),
	}
	m.Registry.MustRegister(m.Reviews, m.Latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Registry.MustRegister(extra...)
	return m
}

func (m *Metrics) observe(result string, start time.Time) {
	m.Reviews.WithLabelValues(result).Inc()
	m.Latency.WithLabelValues(result).Observe(time.Since(start).Seconds())
}
