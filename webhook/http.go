package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/semaphore"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
	"github.com/zzcloud/zz/internal/version"
)

// Limits bound what reviews may cost, so that neither a burst of big pods
// nor a client that is not the apiserver takes the webhook's memory.
type Limits struct {
	// MaxBodyBytes is the largest review decoded. A bigger one is refused
	// from its Content-Length: scanned for its uid and answered with a
	// refusal its pod's author reads (refuseOversize), or, over
	// oversizeScanFactor times this, given 413 before its body is read.
	MaxBodyBytes int64
	// SmallBodyBytes splits reviews in two lanes: ordinary pods (up to this
	// size) share MaxSmallInFlight slots; bigger ones share MaxLargeBytes, so
	// a burst of big pods never queues an ordinary one.
	SmallBodyBytes   int64
	MaxSmallInFlight int64
	MaxLargeBytes    int64
	// QueueWait is how long a review waits for its lane before a 429.
	QueueWait time.Duration
	// QuietGCPercent is GOGC while no large review is in flight (see the
	// constant); 0 leaves the garbage collector as the runtime set it.
	QuietGCPercent int
}

// DefaultLimits: the apiserver takes request bodies up to 3 MiB (and etcd
// stores objects up to 1.5 MiB), but the review carries the pod with its
// defaults applied, about 3.2 times the bytes of a pod of thousands of
// small containers (a 1.5 MB pod of 2000 native sidecars made a 4.7 MB
// review): 4 MiB holds every pod of a few hundred containers, and bigger
// ones are refused with a message that says so. Ordinary pods are a few
// KiB. A
// review allocates about 27 times its size while it is served
// (TestBigReviewCost), so two big ones at once (8 MiB) stay far below the
// Deployment's 256 MiB limit.
var DefaultLimits = Limits{
	MaxBodyBytes:     4 << 20,
	SmallBodyBytes:   256 << 10,
	MaxSmallInFlight: 64,
	MaxLargeBytes:    8 << 20,
	QueueWait:        3 * time.Second,
	QuietGCPercent:   QuietGCPercent,
}

// Handler serves /mutate-pods and the health endpoints.
type Handler struct {
	// Policy returns the policy in force (nil before the first valid one).
	Policy func() *inject.Policy
	// NamespaceLabels returns a namespace's labels (an informer cache).
	NamespaceLabels func(ctx context.Context, name string) (map[string]string, error)
	// LimitRanges returns a namespace's LimitRanges (an informer cache; an
	// error before its first list); nil: none are honoured.
	LimitRanges func(namespace string) ([]*corev1.LimitRange, error)
	// Ready explains why the webhook is not ready (nil when ready) and
	// details the policy's state either way.
	Ready        func() (detail string, err error)
	OwnNamespace string
	Metrics      *Metrics
	// Limits: zero means DefaultLimits.
	Limits Limits
	mux    *http.ServeMux
	small  *semaphore.Weighted
	large  *semaphore.Weighted
	// oversize bounds the reviews over MaxBodyBytes scanned at once.
	oversize *semaphore.Weighted
	// refusals samples the log lines of overload refusals; standing those
	// of a state each review would repeat (standingLogEvery).
	refusals *sampler
	standing *keyedSampler
}

// NewHandler wires the routes of the serving port: reviews and probes.
// /metrics is served by HealthHandler only, on a port of its own.
func NewHandler(h Handler) *Handler {
	if h.Limits == (Limits{}) {
		h.Limits = DefaultLimits
	}
	h.small = semaphore.NewWeighted(h.Limits.MaxSmallInFlight)
	h.large = semaphore.NewWeighted(h.Limits.MaxLargeBytes)
	h.oversize = semaphore.NewWeighted(maxOversizeScans)
	h.refusals = &sampler{every: refusalLogEvery}
	h.standing = newKeyedSampler(standingLogEvery, maxSampledKeys)
	paceGC(h.Limits.QuietGCPercent)
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("POST "+contract.WebhookPath, h.mutate)
	h.mux.HandleFunc("GET /healthz", healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	return &h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// HealthHandler serves /healthz, /readyz and /metrics, for probes and
// Prometheus on their own port: the serving port is reachable by every pod
// that can reach the apiserver's webhooks, and needs to serve reviews only.
func (h *Handler) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.Metrics.Registry, promhttp.HandlerOpts{}))
	return mux
}

func healthz(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

// admit waits for room in the review's lane: its declared size when it has
// one, MaxBodyBytes for a chunked body. It returns the release function, or
// false after writing 413 (too big) or 429 (no room within QueueWait).
func (h *Handler) admit(w http.ResponseWriter, r *http.Request) (func(), bool) {
	size := r.ContentLength
	if size > h.Limits.MaxBodyBytes {
		h.Metrics.Rejected.WithLabelValues("too-large").Inc()
		// Not read: the server closes the connection instead of draining it.
		w.Header().Set("Connection", "close")
		err := fmt.Errorf("the review is %d bytes; zz-webhook reads at most %d: split the pod (the apiserver's defaults make a pod of thousands of containers that big) or raise --max-review-bytes",
			size, h.Limits.MaxBodyBytes)
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		h.logRefusal(klog.FromContext(r.Context()), http.StatusRequestEntityTooLarge, "too-large", size, err)
		return nil, false
	}
	lane, weight, name, large := h.small, int64(1), "small", false
	if size < 0 || size > h.Limits.SmallBodyBytes {
		lane, weight, name, large = h.large, h.Limits.MaxBodyBytes, "large", true
		if size > 0 {
			weight = size
		}
	}
	// Room at once is the common case: no timer and context for it.
	if !lane.TryAcquire(weight) {
		ctx, cancel := context.WithTimeout(r.Context(), h.Limits.QueueWait)
		defer cancel()
		if err := lane.Acquire(ctx, weight); err != nil {
			h.Metrics.Rejected.WithLabelValues("busy-" + name).Inc()
			w.Header().Set("Retry-After", "1")
			err := fmt.Errorf("zz-webhook is busy: no room for a %s review within %s", name, h.Limits.QueueWait)
			http.Error(w, err.Error(), http.StatusTooManyRequests)
			h.logRefusal(klog.FromContext(r.Context()), http.StatusTooManyRequests, "busy-"+name, size, err)
			return nil, false
		}
	}
	if large {
		done := largeReview()
		return func() { lane.Release(weight); done() }, true
	}
	return func() { lane.Release(weight) }, true
}

// bodyPool keeps the read buffers of ordinary reviews (a few KiB each):
// nothing decoded from a body keeps a reference to it (strings and raw
// objects are copied out), so it is reused once the reply is written.
var bodyPool sync.Pool // of *[]byte

// maxPooledBody: bigger buffers are left to the garbage collector, so a
// burst of big pods does not stay in the pool.
const maxPooledBody = 64 << 10

// readBody reads exactly the declared length when there is one (no
// doubling of a growing buffer), never more than MaxBodyBytes. The caller
// calls done when nothing uses the bytes any more.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (body []byte, done func(), err error) {
	limited := http.MaxBytesReader(w, r.Body, h.Limits.MaxBodyBytes)
	done = func() {}
	if r.ContentLength < 0 {
		body, err = io.ReadAll(limited)
		return body, done, err
	}
	if r.ContentLength <= maxPooledBody {
		bp, _ := bodyPool.Get().(*[]byte)
		if bp == nil {
			bp = new([]byte)
		}
		if int64(cap(*bp)) < r.ContentLength {
			*bp = make([]byte, r.ContentLength, max(r.ContentLength, 8<<10))
		}
		body, done = (*bp)[:r.ContentLength], func() { bodyPool.Put(bp) }
	} else {
		body = make([]byte, r.ContentLength)
	}
	if _, err = io.ReadFull(limited, body); err != nil {
		done()
		return nil, func() {}, err
	}
	return body, done, nil
}

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
	logger := klog.FromContext(r.Context())
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			h.failReview(w, logger, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q is not supported; send application/json", ct))
			return
		}
	}
	// A pod whose review is over the limit is refused with the reason,
	// as a denied pod (not an error of the webhook's: ZZWebhookErrors).
	if r.ContentLength > h.Limits.MaxBodyBytes && h.refuseOversize(w, r, r.ContentLength) {
		h.Metrics.Rejected.WithLabelValues("too-large").Inc()
		result = resultDenied
		return
	}
	release, ok := h.admit(w, r)
	if !ok {
		return
	}
	defer release()
	body, done, err := h.readBody(w, r)
	defer done()
	if err != nil {
		err = fmt.Errorf("cannot read the review: %w", err)
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			h.logRefusal(logger, http.StatusRequestEntityTooLarge, "too-large", r.ContentLength, err)
			return
		}
		h.failReview(w, logger, http.StatusBadRequest, err)
		return
	}
	review, pod, err := decodeReview(body)
	if err != nil {
		h.failReview(w, logger, http.StatusBadRequest, err)
		return
	}
	req := review.Request
	// The review's identity on every line; built only for a line that is
	// logged (most reviews log none).
	reviewLogger := func(l klog.Logger) klog.Logger {
		return l.WithValues("uid", req.UID, "pod", reviewPod(req, pod), "dryRun", req.DryRun != nil && *req.DryRun)
	}
	var resp *admissionv1.AdmissionResponse
	if reason := skipReason(req, h.OwnNamespace); reason != "" {
		resp, result = allow(req), resultSkipped
		if v := logger.V(4); v.Enabled() {
			reviewLogger(v).Info("Skipped", "reason", reason, "resource", req.Resource)
		}
	} else {
		labels, err := h.NamespaceLabels(r.Context(), req.Namespace)
		if err != nil {
			h.failReview(w, reviewLogger(logger), http.StatusServiceUnavailable, fmt.Errorf("cannot read namespace %s: %w", req.Namespace, err))
			return
		}
		policy := h.Policy()
		switch {
		case !optedIn(labels):
			resp, result = allow(req), resultSkipped
		case policy == nil:
			// A 503 lets the configuration's failurePolicy decide.
			_, why := h.Ready()
			if why == nil {
				why = errors.New("none loaded")
			}
			h.failReview(w, reviewLogger(logger), http.StatusServiceUnavailable, fmt.Errorf("zz-webhook has no valid policy yet: %w", why))
			return
		default:
			// Pod Security admission judges the mutated pod: nothing its
			// namespace's level refuses is added.
			policy = policy.WithPodSecurity(labels[contract.LabelPodSecurityEnforce])
			resp, result = admitPod(req, pod, h.withLimitRanges(policy, req, logger, reviewLogger))
			if v := logger.V(4); v.Enabled() {
				reviewLogger(v).Info("Admitted", "result", result, "patchBytes", len(resp.Patch))
			}
			if result == resultDenied {
				// Once per workload and reason in standingLogEvery: its
				// controller retries the pod in a loop.
				key := "refused\x00" + reviewPod(req, pod).String() + "\x00" + resp.Result.Message
				if ok, dropped := h.standing.allow(key, time.Now()); ok {
					reviewLogger(logger).Info("Refused a pod", "reason", resp.Result.Message, "leftOutSinceLastLine", dropped)
				}
			}
		}
	}
	if req.DryRun != nil && *req.DryRun && pod != nil && pod.Annotations[contract.AnnotationCheckProbe] != "" {
		resp.Warnings = append(resp.Warnings, h.probeAnswer(req.Namespace))
	}
	review.Request, review.Response = nil, resp
	w.Header()["Content-Type"] = jsonContentType // Set would allocate the value's slice
	if err := json.NewEncoder(w).Encode(review); err != nil {
		reviewLogger(logger.V(2)).Info("Could not write the reply", "err", err)
	}
}

// reviewPod names a review's pod in the log: its name, or, for a pod a
// controller creates (a ReplicaSet's, a Job's), which has none yet at
// admission, its generateName ("shop-7d9c8f6b5-", the workload's; no pod
// name ends in "-"). Every such line said "NAMESPACE/" alone, so the on-call
// could not tell which workload was refused (an SRE audit).
func reviewPod(req *admissionv1.AdmissionRequest, pod *corev1.Pod) klog.ObjectRef {
	name := req.Name
	if name == "" && pod != nil {
		name = pod.GenerateName
	}
	return klog.KRef(req.Namespace, name)
}

// withLimitRanges is p for the review's namespace's LimitRanges: CPU
// requests the overcommit would lower under them are raised, and each such
// raise is logged and counted (zz_webhook_cpu_request_clamps_total). p
// itself for a namespace without any, the common case.
func (h *Handler) withLimitRanges(p *inject.Policy, req *admissionv1.AdmissionRequest, logger klog.Logger, reviewLogger func(klog.Logger) klog.Logger) *inject.Policy {
	if h.LimitRanges == nil {
		return p
	}
	lrs, err := h.LimitRanges(req.Namespace)
	if len(lrs) == 0 && err == nil {
		return p
	}
	return h.clamping(p, req, inject.NamespaceLimits{Items: lrs, Unread: err}, reviewLogger(logger))
}

// clamping is withLimitRanges for a namespace with LimitRanges (or before
// their first list), apart so that the common review builds no closure
// (and reviewLogger, only called, stays on the stack).
func (h *Handler) clamping(p *inject.Policy, req *admissionv1.AdmissionRequest, l inject.NamespaceLimits, logger klog.Logger) *inject.Policy {
	dryRun := req.DryRun != nil && *req.DryRun
	l.OnClamp = func(c inject.Clamp) {
		if !dryRun {
			h.Metrics.Clamps.WithLabelValues(c.Constraint).Inc()
		}
		// Once per LimitRange and constraint in standingLogEvery: it
		// raises every pod of the namespace alike.
		key := "clamp\x00" + req.Namespace + "/" + c.LimitRange + "\x00" + c.Constraint
		if ok, dropped := h.standing.allow(key, time.Now()); ok {
			logger.Info("Raised a CPU request to the namespace's LimitRange", "container", c.Container,
				"limitRange", klog.KRef(req.Namespace, c.LimitRange), "constraint", c.Constraint, "bound", c.Bound,
				"scaled", c.Scaled.String(), "request", c.Request.String(), "leftOutSinceLastLine", dropped)
		}
	}
	return p.WithLimitRanges(l)
}

// probeAnswer is the warning a dry-run pod marked as kubectl zz check's
// probe gets, whatever else the review decided: the apiserver relays it, so
// check knows this webhook answered, which build, and what it does that
// an older one did not, or cannot do now: raise requests to the
// namespace's LimitRanges where it may not read them (a ClusterRole without
// the rule; it said it raised them all the same).
func (h *Handler) probeAnswer(namespace string) string {
	if h.LimitRanges != nil {
		if _, err := h.LimitRanges(namespace); err != nil {
			return contract.WebhookProbeAnswer + " (" + version.Banner(contract.ComponentWebhook) + "; " + contract.WebhookLimitRangesUnread + ": " + err.Error() + ")"
		}
	}
	return probeAnswer
}

// probeAnswer is the answer of a webhook that reads the LimitRanges.
var probeAnswer = contract.WebhookProbeAnswer + " (" + version.Banner(contract.ComponentWebhook) + "; " + contract.WebhookRaisesToLimitRanges + ")"

// jsonContentType is every reply's header value, shared: nothing changes it.
var jsonContentType = []string{"application/json"}

// Metrics are the webhook's Prometheus metrics, in their own registry.
type Metrics struct {
	Registry *prometheus.Registry
	Reviews  *prometheus.CounterVec
	Latency  *prometheus.HistogramVec
	Rejected *prometheus.CounterVec
	// Clamps counts the CPU requests raised to a LimitRange, by constraint.
	Clamps *prometheus.CounterVec
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
			// 20 µs to 42 s: past the longest timeoutSeconds the apiserver
			// allows (30 s), so ZZWebhookSlow's p99 can reach any threshold
			// (with 2.6 s the top, a 10 s timeout's 5 s could never fire).
			Buckets: prometheus.ExponentialBuckets(0.00002, 2, 22),
		}, []string{"result"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zz_webhook_reviews_rejected_total", Help: "Reviews refused before they were read, by reason (too-large, busy-small, busy-large).",
		}, []string{"reason"}),
		Clamps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zz_webhook_cpu_request_clamps_total",
			Help: "CPU requests (of containers, or of a pod as a whole) that the pool's overcommit would have lowered under the namespace's LimitRange and the webhook raised to it, by the LimitRange's constraint (min, maxLimitRequestRatio); dry runs not counted.",
		}, []string{"constraint"}),
	}
	// Every outcome exists from the start (at 0), so an error-rate alert has
	// its series before the first error.
	for _, r := range []string{resultPatched, resultUnchanged, resultSkipped, resultDenied, resultError} {
		m.Reviews.WithLabelValues(r)
	}
	for _, r := range []string{"too-large", "busy-small", "busy-large"} {
		m.Rejected.WithLabelValues(r)
	}
	for _, c := range []string{inject.ConstraintMin, inject.ConstraintRatio} {
		m.Clamps.WithLabelValues(c)
	}
	m.Registry.MustRegister(m.Reviews, m.Latency, m.Rejected, m.Clamps, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Registry.MustRegister(extra...)
	return m
}

// ReadyGauge is zz_webhook_ready: 1 while ready answers no error, the
// condition of /readyz. An unready webhook is out of its Service's
// endpoints while its /metrics still answers (up is 1), so ZZWebhookDown
// needs this to see that no replica can take a review.
func ReadyGauge(ready func() (string, error)) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zz_webhook_ready",
		Help: "1 when the webhook is ready to answer reviews (its /readyz answers 200), else 0.",
	}, func() float64 {
		if _, err := ready(); err != nil {
			return 0
		}
		return 1
	})
}

func (m *Metrics) observe(result string, start time.Time) {
	m.Reviews.WithLabelValues(result).Inc()
	m.Latency.WithLabelValues(result).Observe(time.Since(start).Seconds())
}
