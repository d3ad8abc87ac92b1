package extender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
)

// maxBody bounds a request: ExtenderArgs with 5,000 node names and a large pod
// is well under 1 MiB; full NodeLists (nodeCacheCapable off) need more.
const maxBody = 32 << 20

// Handler serves the extender protocol and the health endpoints.
type Handler struct {
	Decider *Decider
	Binder  *Binder
	// Ready reports why the extender is not ready yet (nil when ready).
	Ready   func() error
	Metrics *Metrics
	// Watchdog fails /healthz while a decision verb or the ledger's lock
	// is hung (nil: /healthz always answers ok).
	Watchdog *Watchdog
	mux      *http.ServeMux
	health   *http.ServeMux
	// invalidLogged: the pods whose invalid GPU request was logged (once
	// each: kube-scheduler asks again on every retry).
	invalidLogged *recentUIDs
}

// NewHandler wires the routes.
func NewHandler(d *Decider, b *Binder, ready func() error, m *Metrics) *Handler {
	h := &Handler{Decider: d, Binder: b, Ready: ready, Metrics: m, mux: http.NewServeMux(), health: http.NewServeMux(),
		invalidLogged: newRecentUIDs(maxInvalidLogged)}
	h.mux.HandleFunc("POST /gpu/filter", h.whenReady("filter", h.filter))
	h.mux.HandleFunc("POST /gpu/prioritize", h.whenReady("prioritize_gpu", h.prioritizeGPU))
	h.mux.HandleFunc("POST /gpu/bind", h.whenReady("bind", h.bind))
	h.mux.HandleFunc("POST /gpu/preempt", h.whenReady("preempt", h.preempt))
	h.mux.HandleFunc("POST /balance/prioritize", h.whenReady("prioritize_balance", h.prioritizeBalance))
	for _, mux := range []*http.ServeMux{h.mux, h.health} {
		mux.HandleFunc("GET /healthz", h.healthz)
		mux.HandleFunc("GET /readyz", h.readyz)
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	}
	return h
}

// ServeHTTP serves the extender verbs and the health endpoints.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// HealthHandler serves /healthz, /readyz and /metrics only: safe to expose
// on the pod IP for probes and Prometheus, unlike bind.
func (h *Handler) HealthHandler() http.Handler { return h.health }

// healthz answers ok unless the watchdog finds the extender hung: then 500
// with what is hung, and the kubelet's liveness probe restarts it.
func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	if err := h.Watchdog.Healthy(); err != nil {
		klog.FromContext(r.Context()).Error(err, "Failing /healthz: the kubelet's liveness probe restarts the extender")
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// readyz answers ok once the caches have synced, unless the watchdog finds
// the extender hung: a hung extender answers no verb either, and a probe of
// /readyz alone (kubectl zz check outside the cluster, a Service's
// endpoints) saw it ready (the watchdog first: Ready may be what hangs).
func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := ReadyUnlessHung(h.Watchdog, h.Ready)(); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// whenReady answers a verb 503 until the caches have synced. Before that
// the ledger may know the nodes but not yet the pods on their cards (the
// two informers list independently), so a decision would see full cards as
// empty and place a pod on memory that is taken: a restarted extender
// overfilled a card that way while the scheduler retried its pending pods.
// The scheduler treats the 503 as a failed attempt and retries the pod.
func (h *Handler) whenReady(verb string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if verb != "bind" {
			defer h.Watchdog.Begin(verb)()
		}
		if err := h.Ready(); err != nil {
			h.observe(r.Context(), verb, time.Now(), &err)
			http.Error(w, "zz-extender is not ready ("+err.Error()+"); the scheduler retries the pod", http.StatusServiceUnavailable)
			return
		}
		next(w, r)
	}
}

// decode reads a JSON body into v; it writes a 400 or 415 and returns false on
// bad input, so handlers stop there.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			http.Error(w, fmt.Sprintf("content type %q is not supported; send application/json", ct), http.StatusUnsupportedMediaType)
			return false
		}
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		http.Error(w, "cannot decode the request body as "+fmt.Sprintf("%T", v)+": "+err.Error(), http.StatusBadRequest)
		return false
	}
	// Read to the body's end (a newline at most): only then does net/http
	// start its reader of the connection, which cancels the request's
	// context once the client has hung up (observe counts a timeout).
	// Yielding runs that reader now, ahead of the decision: a call that
	// waited past the scheduler's timeout in a paused extender has its
	// hang-up queued already, and it was seen one time in two without.
	_, _ = io.Copy(io.Discard, body)
	runtime.Gosched()
	return true
}

func (h *Handler) reply(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "cannot encode the reply: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, body)
}

// writeJSON writes body, one JSON value, with its length and nothing after
// it. kube-scheduler decodes a reply with json.Decoder and closes the body
// without reading on: its transport keeps the connection only if that
// decode reached the end of the body, so a trailing newline, or a reply
// large enough to be sent chunked, made it dial the extender anew for
// every call (TestSchedulerKeepsItsConnection).
func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if _, err := w.Write(body); err != nil {
		// The client went away; nothing else to tell it.
		klog.V(2).InfoS("Could not write the reply", "err", err)
	}
}

// Results of the requests metric. "invalid" is a pod whose GPU request
// cannot be read, refused on every node: the pod's fault, which
// ZZExtenderErrors leaves out ("error" is the extender's own). "timeout" is
// a call whose client hung up before the answer (kube-scheduler's
// httpTimeout passed, counting the time the call waited unread in a paused
// or throttled extender): it failed for the pod, whatever the extender
// decided, and the extender's own latency does not show that wait.
const (
	resultOK      = "ok"
	resultError   = "error"
	resultInvalid = "invalid"
	resultTimeout = "timeout"
)

// ReadyUnlessHung is the condition of /readyz: the watchdog finds nothing
// hung (first: ready may be what hangs), and ready answers no error.
func ReadyUnlessHung(w *Watchdog, ready func() error) func() error {
	return func() error {
		if err := w.Healthy(); err != nil {
			return err
		}
		return ready()
	}
}

// ReadyGauge is zz_extender_ready: 1 while ready answers no error; pass it
// ReadyUnlessHung, the condition of /readyz (caches synced, nothing hung).
// While not ready every verb answers 503 or nothing, and /metrics answers
// (up is 1), so ZZExtenderDown needs it.
func ReadyGauge(ready func() error) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zz_extender_ready",
		Help: "1 when the extender answers its verbs (its /readyz answers 200: caches synced and no verb hung), else 0.",
	}, func() float64 {
		if ready() != nil {
			return 0
		}
		return 1
	})
}

// observe records one call's latency and outcome; ctx is the request's,
// which net/http cancels when the client's connection closes.
func (h *Handler) observe(ctx context.Context, verb string, start time.Time, err *error) {
	result := resultOK
	if _, invalid := errors.AsType[*invalidRequest](*err); invalid {
		result = resultInvalid
	} else if ctx.Err() != nil {
		result = resultTimeout
	} else if *err != nil {
		result = resultError
	}
	h.Metrics.Requests.WithLabelValues(verb, result).Inc()
	h.Metrics.Latency.WithLabelValues(verb).Observe(time.Since(start).Seconds())
}

func (h *Handler) filter(w http.ResponseWriter, r *http.Request) {
	var err error
	defer h.observe(r.Context(), "filter", time.Now(), &err)
	var wire wireArgs
	if !decode(w, r, &wire) {
		err = errBadArgs
		return
	}
	args := wire.args()
	res, invalid := h.Decider.filter(args)
	switch {
	case invalid != nil:
		err = invalid
		if h.invalidLogged.add(args.Pod.UID) {
			klog.FromContext(r.Context()).V(2).Info("GPU pod refused on every node: its GPU request is invalid (logged once per pod)",
				"pod", klog.KObj(args.Pod), "uid", args.Pod.UID, "err", invalid.err)
		}
	case res.Error != "":
		err = errors.New(res.Error)
	}
	h.reply(w, res)
}

func (h *Handler) prioritize(verb string, score func(*extenderv1.ExtenderArgs) (extenderv1.HostPriorityList, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var err error
		defer h.observe(r.Context(), verb, time.Now(), &err)
		var wire wireArgs
		if !decode(w, r, &wire) {
			err = errBadArgs
			return
		}
		var list extenderv1.HostPriorityList
		if list, err = score(wire.args()); err != nil {
			// The protocol has no error field for priorities: a non-200
			// answer makes the scheduler report the message.
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, appendPriorities(make([]byte, 0, prioritiesSize(list)), list))
	}
}

func (h *Handler) prioritizeGPU(w http.ResponseWriter, r *http.Request) {
	h.prioritize("prioritize_gpu", h.Decider.PrioritizeGPU)(w, r)
}

func (h *Handler) prioritizeBalance(w http.ResponseWriter, r *http.Request) {
	h.prioritize("prioritize_balance", h.Decider.PrioritizeBalance)(w, r)
}

// preempt answers kube-scheduler's preemption (Decider.Preemption). An
// error makes kube-scheduler give up this preemption (the GPU extender is
// not ignorable) and retry the pod later: no eviction blind to GPU memory.
func (h *Handler) preempt(w http.ResponseWriter, r *http.Request) {
	var err error
	defer h.observe(r.Context(), "preempt", time.Now(), &err)
	var args extenderv1.ExtenderPreemptionArgs
	if !decode(w, r, &args) {
		err = errBadArgs
		return
	}
	var res *extenderv1.ExtenderPreemptionResult
	if res, err = h.Decider.Preemption(&args); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.reply(w, res)
}

func (h *Handler) bind(w http.ResponseWriter, r *http.Request) {
	var err error
	defer h.observe(r.Context(), "bind", time.Now(), &err)
	var args extenderv1.ExtenderBindingArgs
	if !decode(w, r, &args) {
		err = errBadArgs
		return
	}
	// Not cancelled with the request: kube-scheduler hanging up at its
	// httpTimeout must not cut the bind between the card choice and the
	// Binding, where the pod could be bound with its cards given back (an
	// e2e burst on a loaded machine saw cards overfilled that way).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	res := &extenderv1.ExtenderBindingResult{}
	if err = h.Binder.Bind(ctx, &args); err != nil {
		res.Error = err.Error()
		klog.FromContext(ctx).Info("Bind failed", "pod", klog.KRef(args.PodNamespace, args.PodName), "node", args.Node, "err", err)
	}
	h.reply(w, res)
}

// verbs are the verb label values of the extender's metrics.
var verbs = []string{"filter", "prioritize_gpu", "prioritize_balance", "bind", "preempt"}

// Metrics are the extender's Prometheus metrics, in their own registry.
type Metrics struct {
	Registry *prometheus.Registry
	Requests *prometheus.CounterVec
	Latency  *prometheus.HistogramVec
}

// NewMetrics registers the extender's metrics plus Go and process collectors.
func NewMetrics(extra ...prometheus.Collector) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zz_extender_requests_total", Help: "Extender calls by verb and result (ok, error: the extender failed, timeout: the scheduler hung up before the answer, invalid: a pod's GPU request it cannot read, refused on every node).",
		}, []string{"verb", "result"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "zz_extender_request_duration_seconds", Help: "Time to answer an extender call.",
			// 50 µs to 13 s: past kube-scheduler's timeouts for its
			// extenders (10 s for the GPU one), so a slow verb reads as slow.
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 19),
		}, []string{"verb"}),
	}
	// Every verb's outcomes exist from the start (at 0), so an error-rate
	// alert has its series before the first error.
	for _, verb := range verbs {
		for _, result := range []string{resultOK, resultError, resultTimeout} {
			m.Requests.WithLabelValues(verb, result)
		}
		m.Latency.WithLabelValues(verb) // ZZExtenderSlow's series, as the counts'
	}
	m.Requests.WithLabelValues("filter", resultInvalid)
	m.Registry.MustRegister(m.Requests, m.Latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Registry.MustRegister(extra...)
	return m
}
