package webhook

import (
	"net/http"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// Under failurePolicy Fail every review the webhook does not answer is a
// pod creation refused, so each is logged with its reason: the webhook's
// own failures (5xx: the namespace lookup, no valid policy) at V(0), the
// client's (4xx: undecodable, wrong content type) at V(2). Overload
// refusals (413, 429) come in bursts, so they are sampled: one line per
// refusalLogEvery, saying how many were left out since the last one.
// ZZWebhookErrors sends the on-call here.

// refusalLogEvery spaces the lines of overload refusals.
const refusalLogEvery = 10 * time.Second

// sampler lets one event through per interval and counts the others.
type sampler struct {
	every   time.Duration
	mu      sync.Mutex
	next    time.Time
	dropped int
}

// allow reports whether an event at now is logged and, if so, how many
// were left out since the last one logged.
func (s *sampler) allow(now time.Time) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Before(s.next) {
		s.dropped++
		return false, 0
	}
	dropped := s.dropped
	s.next, s.dropped = now.Add(s.every), 0
	return true, dropped
}

// failReview answers a review the webhook could not answer with code and
// err's message, and logs it (logger carries the review's uid and pod once
// they are known).
func (h *Handler) failReview(w http.ResponseWriter, logger klog.Logger, code int, err error) {
	http.Error(w, err.Error(), code)
	if code < http.StatusInternalServerError {
		logger = logger.V(2)
	}
	logger.Info("Could not answer the review; the apiserver refuses the pod (failurePolicy Fail)", "code", code, "err", err)
}

// logRefusal logs an overload refusal (413 or 429, before the body is
// read), sampled.
func (h *Handler) logRefusal(logger klog.Logger, code int, reason string, size int64, err error) {
	v := logger.V(2)
	if !v.Enabled() {
		return
	}
	if ok, dropped := h.refusals.allow(time.Now()); ok {
		v.Info("Refused a review before reading it; the apiserver refuses the pod (failurePolicy Fail)",
			"code", code, "reason", reason, "bytes", size, "err", err, "leftOutSinceLastLine", dropped)
	}
}

// standingLogEvery spaces the lines of a standing state that every review
// of it would repeat: a LimitRange that raises each pod's CPU request, a
// workload whose pods the policy refuses while its controller retries.
const standingLogEvery = 10 * time.Minute

// maxSampledKeys bounds the keys a keyedSampler remembers (namespaces and
// workload names are the tenants').
const maxSampledKeys = 4096

// keyedSampler is a sampler per key: one event per key per interval, the
// others counted into that key's next line. Past maxKeys keys, those whose
// interval has ended are forgotten; a key that still finds no room is let
// through every time (a line too many, never one lost).
type keyedSampler struct {
	every   time.Duration
	maxKeys int
	mu      sync.Mutex
	keys    map[string]*sampler
}

func newKeyedSampler(every time.Duration, maxKeys int) *keyedSampler {
	return &keyedSampler{every: every, maxKeys: maxKeys, keys: map[string]*sampler{}}
}

// allow is sampler.allow for key's events.
func (k *keyedSampler) allow(key string, now time.Time) (bool, int) {
	k.mu.Lock()
	s := k.keys[key]
	if s == nil {
		if len(k.keys) >= k.maxKeys {
			for key, s := range k.keys {
				if s.ended(now) {
					delete(k.keys, key)
				}
			}
		}
		if len(k.keys) >= k.maxKeys {
			k.mu.Unlock()
			return true, 0
		}
		s = &sampler{every: k.every}
		k.keys[key] = s
	}
	k.mu.Unlock()
	return s.allow(now)
}

// ended says whether the interval of the last event let through is over.
func (s *sampler) ended(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !now.Before(s.next)
}
