package inject

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// LimitRange constraints the CPU clamp honours (Clamp.Constraint).
const (
	ConstraintMin   = "min"
	ConstraintRatio = "maxLimitRequestRatio"
)

// NamespaceLimits is what the webhook knows of a review's namespace's
// LimitRanges (WithLimitRanges).
type NamespaceLimits struct {
	Items []*corev1.LimitRange
	// Unread says why the LimitRanges are not known (the informer has not
	// listed them yet): requests are scaled unclamped, with a warning.
	Unread error
	// OnClamp is told of every request the clamp raised; may be nil.
	OnClamp func(Clamp)
}

// Clamp is one CPU request the webhook raised above limit × ratio so that
// the namespace's LimitRange admits it.
type Clamp struct {
	// Container is the container's name; "" for the pod as a whole (a
	// LimitRange item of type Pod, judged on the sum of its requests).
	Container  string
	LimitRange string
	Constraint string // ConstraintMin or ConstraintRatio
	Bound      string // the LimitRange's value (300m, 2)
	// Scaled is what the pool's ratio made of the request, Request what
	// the clamp made of it (never above the limit).
	Scaled, Request resource.Quantity
	// Permille is the ratio the pod's requests got instead of the pool's,
	// for a Pod item (0 for a container's).
	Permille int64
}

// cpuBound is the tightest value of one constraint over a namespace's
// LimitRanges, in millicores (min) or thousandths (a ratio); 0: none.
type cpuBound struct {
	milli int64
	from  string // the LimitRange that sets it
	value string // as it wrote it
}

// cpuBounds are the CPU bounds a namespace's LimitRanges put on requests:
// the LimitRanger validates pods after the mutating webhooks, so a request
// the pool's overcommit lowered under them has the pod refused, whatever
// its spec said (an incident audit: every pod of the pool refused).
type cpuBounds struct {
	min, ratio       cpuBound // Container items: every container and init container
	podMin, podRatio cpuBound // Pod items: the pod's requests as a whole
}

// cpuBoundsOf reads the CPU bounds of lrs: the largest min cpu and the
// smallest maxLimitRequestRatio cpu of their Container items and of their
// Pod items (the LimitRanger enforces every one, so the tightest counts);
// nil when none bounds CPU requests.
func cpuBoundsOf(lrs []*corev1.LimitRange) *cpuBounds {
	var b cpuBounds
	for _, lr := range lrs {
		for _, item := range lr.Spec.Limits {
			lo, ratio := &b.min, &b.ratio
			switch item.Type {
			case corev1.LimitTypeContainer:
			case corev1.LimitTypePod:
				lo, ratio = &b.podMin, &b.podRatio
			default:
				continue
			}
			if q, ok := item.Min[corev1.ResourceCPU]; ok && q.MilliValue() > lo.milli {
				*lo = cpuBound{milli: q.MilliValue(), from: lr.Name, value: q.String()}
			}
			// Validation keeps a ratio at 1 or more.
			if q, ok := item.MaxLimitRequestRatio[corev1.ResourceCPU]; ok && q.MilliValue() >= 1000 && (ratio.milli == 0 || q.MilliValue() < ratio.milli) {
				*ratio = cpuBound{milli: q.MilliValue(), from: lr.Name, value: q.String()}
			}
		}
	}
	if b == (cpuBounds{}) {
		return nil
	}
	out := b // b stays on the stack for the namespaces without bounds
	return &out
}

// requestFloor is the least CPU request, in millicores, that a container
// of limitMilli millicores may have under b's Container bounds, and the
// bound that sets it (nil: none is above 1m).
func (b *cpuBounds) requestFloor(limitMilli int64) (int64, *cpuBound) {
	floor, by := int64(0), (*cpuBound)(nil)
	if b.min.milli > 0 {
		floor, by = b.min.milli, &b.min
	}
	if b.ratio.milli > 0 {
		if r := ratioFloor(limitMilli, b.ratio.milli); r > floor {
			floor, by = r, &b.ratio
		}
	}
	return floor, by
}

// ratioFloor is the least request whose limit/request the LimitRanger
// admits under a maxLimitRequestRatio of ratioMilli thousandths: limit ×
// 1000 / ratio rounded up, then checked with the LimitRanger's own float
// sum (limitRequestRatioConstraint), which rounds.
func ratioFloor(limitMilli, ratioMilli int64) int64 {
	req := (limitMilli*1000 + ratioMilli - 1) / ratioMilli
	for req < limitMilli && !ratioAdmits(limitMilli, req, ratioMilli) {
		req++
	}
	return req
}

// ratioAdmits is the LimitRanger's test of limit/request against a ratio.
func ratioAdmits(limitMilli, requestMilli, ratioMilli int64) bool {
	return requestMilli > 0 && float64(limitMilli)/float64(requestMilli)*1000 <= float64(ratioMilli)
}

// clampContainer raises c's CPU request (already limit × ratio) to the
// least b's Container bounds admit, never above c's CPU limit: where the
// bound is above the limit the request becomes the limit and the
// LimitRanger refuses the pod for its spec (its limit is under the
// namespace's min), as it would without the webhook. It changes nothing
// where the request already fits, or where c has no CPU limit (the
// webhook does not scale its request). Only the limit decides, as for the
// ratio: what the pod wrote as its request never counted.
func (b *cpuBounds) clampContainer(c *corev1.Container) (Clamp, bool) {
	limit, ok := c.Resources.Limits[corev1.ResourceCPU]
	request, hasRequest := c.Resources.Requests[corev1.ResourceCPU]
	if !ok || !hasRequest {
		return Clamp{}, false
	}
	lm := limit.MilliValue()
	if lm <= 0 || lm > maxIntMilli {
		return Clamp{}, false // no limit a person writes; the ratio never lowered it
	}
	floor, by := b.requestFloor(lm)
	if by == nil || request.MilliValue() >= floor {
		return Clamp{}, false
	}
	clamped := limit
	if floor < lm {
		clamped = *resource.NewMilliQuantity(floor, resource.DecimalSI)
	}
	if clamped.Cmp(request) <= 0 {
		return Clamp{}, false
	}
	c.Resources.Requests[corev1.ResourceCPU] = clamped
	return Clamp{Container: c.Name, LimitRange: by.from, Constraint: constraintOf(b, by), Bound: by.value,
		Scaled: request, Request: clamped}, true
}

func constraintOf(b *cpuBounds, by *cpuBound) string {
	if by == &b.ratio || by == &b.podRatio {
		return ConstraintRatio
	}
	return ConstraintMin
}

// podFits says whether the pod's CPU requests as a whole pass b's Pod
// bounds, as the LimitRanger sums them (its pod-level request where it has
// one), and which bound refuses it. A pod without CPU limits passes the
// ratio here: the LimitRanger refuses it for its spec, which no request
// fixes.
func (b *cpuBounds) podFits(pod *corev1.Pod) (bool, *cpuBound) {
	req, lim := podCPU(pod)
	if b.podMin.milli > 0 && req < b.podMin.milli {
		return false, &b.podMin
	}
	if b.podRatio.milli > 0 && lim > 0 && !ratioAdmits(lim, req, b.podRatio.milli) {
		return false, &b.podRatio
	}
	return true, nil
}

// podCPU is the pod's CPU request and limit in millicores as the
// LimitRanger's Pod items read them.
func podCPU(pod *corev1.Pod) (request, limit int64) {
	req := containerCPURequests(pod)
	lim := resourcehelper.AggregateContainerLimits(pod, resourcehelper.PodResourcesOptions{})[corev1.ResourceCPU]
	if r := pod.Spec.Resources; r != nil {
		if q, ok := r.Requests[corev1.ResourceCPU]; ok {
			req = q
		}
		if q, ok := r.Limits[corev1.ResourceCPU]; ok {
			lim = q
		}
	}
	return req.MilliValue(), lim.MilliValue()
}

// warning is what the pod's creator is told of c.
func (c Clamp) warning(scaledBy string) string {
	bound := c.Constraint + " cpu " + c.Bound
	if c.Container == "" {
		return fmt.Sprintf("the pod's CPU requests were raised from %s in all (limits × %s) to %s (limits × %s), so that LimitRange %s admits the pod (%s per Pod)",
			c.Scaled.String(), scaledBy, c.Request.String(), permilleWords(c.Permille), c.LimitRange, bound)
	}
	return fmt.Sprintf("the CPU request of container %s was raised from %s (its limit × %s) to %s, so that LimitRange %s admits it (%s per Container)",
		c.Container, c.Scaled.String(), scaledBy, c.Request.String(), c.LimitRange, bound)
}

// permilleWords is a ratio in permille as a person writes it (0.5).
func permilleWords(permille int64) string {
	return strconv.FormatFloat(float64(permille)/1000, 'f', -1, 64)
}
