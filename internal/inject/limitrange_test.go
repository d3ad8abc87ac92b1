package inject

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// limitRange is a LimitRange named name with one item of type typ.
func limitRange(name string, typ corev1.LimitType, min, ratio string) *corev1.LimitRange {
	item := corev1.LimitRangeItem{Type: typ}
	if min != "" {
		item.Min = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(min)}
	}
	if ratio != "" {
		item.MaxLimitRequestRatio = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(ratio)}
	}
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{item}}}
}

// TestClampContainer: the request the pool's ratio made is raised to the
// least the namespace's Container bounds admit, never above the limit, and
// only where it was below them (an incident audit: min cpu 300m refused
// every pod of a 0.5 pool with cpu 500m).
func TestClampContainer(t *testing.T) {
	ctr := corev1.LimitTypeContainer
	for _, tt := range []struct {
		name            string
		lrs             []*corev1.LimitRange
		limit, request  string // the container's, request after scaling
		want            string // the request after the clamp ("": unchanged)
		from, condition string
	}{
		{name: "min above the scaled request", lrs: []*corev1.LimitRange{limitRange("minimum", ctr, "300m", "")},
			limit: "500m", request: "250m", want: "300m", from: "minimum", condition: ConstraintMin},
		{name: "min below the scaled request", lrs: []*corev1.LimitRange{limitRange("minimum", ctr, "200m", "")},
			limit: "500m", request: "250m"},
		{name: "min equal to the scaled request", lrs: []*corev1.LimitRange{limitRange("minimum", ctr, "250m", "")},
			limit: "500m", request: "250m"},
		{name: "min above the limit: the limit, refused for the spec", lrs: []*corev1.LimitRange{limitRange("minimum", ctr, "1", "")},
			limit: "500m", request: "250m", want: "500m", from: "minimum", condition: ConstraintMin},
		{name: "ratio 1: requests = limits", lrs: []*corev1.LimitRange{limitRange("ratio", ctr, "", "1")},
			limit: "500m", request: "250m", want: "500m", from: "ratio", condition: ConstraintRatio},
		{name: "ratio 1.5", lrs: []*corev1.LimitRange{limitRange("ratio", ctr, "", "1.5")},
			limit: "1", request: "500m", want: "667m", from: "ratio", condition: ConstraintRatio},
		{name: "ratio 3, rounded up", lrs: []*corev1.LimitRange{limitRange("ratio", ctr, "", "3")},
			limit: "1", request: "100m", want: "334m", from: "ratio", condition: ConstraintRatio},
		{name: "ratio 2 admits limit × 0.5", lrs: []*corev1.LimitRange{limitRange("ratio", ctr, "", "2")},
			limit: "500m", request: "250m"},
		{name: "the tightest of two LimitRanges: ratio", lrs: []*corev1.LimitRange{limitRange("a-min", ctr, "300m", ""), limitRange("b-ratio", ctr, "", "1.25")},
			limit: "500m", request: "250m", want: "400m", from: "b-ratio", condition: ConstraintRatio},
		{name: "the tightest of two LimitRanges: min", lrs: []*corev1.LimitRange{limitRange("a-min", ctr, "450m", ""), limitRange("b-ratio", ctr, "", "1.25")},
			limit: "500m", request: "250m", want: "450m", from: "a-min", condition: ConstraintMin},
		{name: "the larger of two mins", lrs: []*corev1.LimitRange{limitRange("a", ctr, "300m", ""), limitRange("b", ctr, "350m", "")},
			limit: "1", request: "250m", want: "350m", from: "b", condition: ConstraintMin},
		{name: "a Pod item bounds no container", lrs: []*corev1.LimitRange{limitRange("pod", corev1.LimitTypePod, "300m", "1")},
			limit: "500m", request: "250m"},
		{name: "a memory min bounds no CPU", lrs: []*corev1.LimitRange{{ObjectMeta: metav1.ObjectMeta{Name: "mem"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
			{Type: ctr, Min: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}}},
			limit: "500m", request: "250m"},
		{name: "no CPU limit: not scaled, not clamped", lrs: []*corev1.LimitRange{limitRange("minimum", ctr, "300m", "")},
			request: "100m"},
		{name: "a limit under a millicore", lrs: []*corev1.LimitRange{limitRange("minimum", ctr, "1m", "")},
			limit: "500u", request: "1m"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &corev1.Container{Name: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(tt.request)}}}
			if tt.limit != "" {
				c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(tt.limit)}
			}
			b := cpuBoundsOf(tt.lrs)
			var got Clamp
			raised := false
			if b != nil {
				got, raised = b.clampContainer(c)
			}
			req := c.Resources.Requests[corev1.ResourceCPU]
			if tt.want == "" {
				if raised || req.String() != tt.request {
					t.Fatalf("clamped to %s (%+v), want %s unchanged", req.String(), got, tt.request)
				}
				return
			}
			if !raised || req.String() != tt.want || got.Request.String() != tt.want || got.Scaled.String() != tt.request ||
				got.LimitRange != tt.from || got.Constraint != tt.condition || got.Container != "app" {
				t.Fatalf("request %s, clamp %+v; want %s from %s's %s", req.String(), got, tt.want, tt.from, tt.condition)
			}
			// What the LimitRanger then judges: request ≤ limit, and the
			// ratio admitted where it bounds.
			lim := c.Resources.Limits[corev1.ResourceCPU]
			if req.Cmp(lim) > 0 {
				t.Fatalf("request %s above the limit %s", req.String(), lim.String())
			}
			if b.ratio.milli > 0 && !ratioAdmits(lim.MilliValue(), req.MilliValue(), b.ratio.milli) {
				t.Fatalf("the LimitRanger refuses %s/%s over ratio %d‰", lim.String(), req.String(), b.ratio.milli)
			}
		})
	}
}

// TestRatioFloorAdmitted: the floor of every limit and ratio passes the
// LimitRanger's float test, and 1m less does not.
func TestRatioFloorAdmitted(t *testing.T) {
	for _, ratio := range []int64{1000, 1001, 1250, 1333, 1500, 2000, 3000, 7000, 9999} {
		for _, limit := range []int64{1, 7, 100, 333, 500, 999, 1000, 1001, 4321, 64000, 1 << 40} {
			f := ratioFloor(limit, ratio)
			if !ratioAdmits(limit, f, ratio) || f > limit {
				t.Fatalf("limit %dm ratio %d‰: floor %dm refused", limit, ratio, f)
			}
			if f > 1 && ratioAdmits(limit, f-1, ratio) {
				t.Fatalf("limit %dm ratio %d‰: floor %dm not the least (%dm admitted)", limit, ratio, f, f-1)
			}
		}
	}
}

const limitRangePolicy = `largestGPUCard: 80Gi
defaultPool: general
pools:
  general: {nodeSelector: {zz.io/pool: general}, cpuOvercommitRatio: 0.5}
`

// TestMutateClampsToLimitRange: through Mutate, the clamp raises what the
// pool's overcommit made, says so in a warning and to OnClamp, and the
// namespace without LimitRanges keeps limit × ratio.
func TestMutateClampsToLimitRange(t *testing.T) {
	p, err := Parse([]byte(limitRangePolicy))
	if err != nil {
		t.Fatal(err)
	}
	withCPU := func(limit string) podOpt {
		return func(pod *corev1.Pod) {
			q := resource.MustParse(limit)
			pod.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = q
			pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = q
		}
	}
	sidecar := func(limit string) podOpt {
		return func(pod *corev1.Pod) {
			q := resource.MustParse(limit)
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "side", Image: "side:1",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q}, Requests: corev1.ResourceList{corev1.ResourceCPU: q}}})
		}
	}
	ctr, pod := corev1.LimitTypeContainer, corev1.LimitTypePod
	for _, tt := range []struct {
		name    string
		limits  NamespaceLimits
		pod     *corev1.Pod
		want    []string // CPU requests by container
		warning string
		clamps  int
	}{
		{name: "no LimitRange", pod: newPod(withCPU("500m")), want: []string{"250m"}},
		{name: "min 300m (the audit's repro)", limits: NamespaceLimits{Items: []*corev1.LimitRange{limitRange("minimum", ctr, "300m", "")}},
			pod: newPod(withCPU("500m")), want: []string{"300m"}, clamps: 1,
			warning: "the CPU request of container app was raised from 250m (its limit × 0.5, the cpuOvercommitRatio of pool general) to 300m, so that LimitRange minimum admits it (min cpu 300m per Container)"},
		{name: "ratio 1", limits: NamespaceLimits{Items: []*corev1.LimitRange{limitRange("ratio", ctr, "", "1")}},
			pod: newPod(withCPU("500m")), want: []string{"500m"}, clamps: 1,
			warning: "(maxLimitRequestRatio cpu 1 per Container)"},
		{name: "overcommit switched off: nothing to clamp", limits: NamespaceLimits{Items: []*corev1.LimitRange{limitRange("minimum", ctr, "300m", "")}},
			pod: newPod(withCPU("500m"), annotate(contract.AnnotationInjectDisable, contract.FeatureOvercommit)), want: []string{"500m"}},
		{name: "only the container below min", limits: NamespaceLimits{Items: []*corev1.LimitRange{limitRange("minimum", ctr, "300m", "")}},
			pod: newPod(withCPU("2"), sidecar("400m")), want: []string{"1", "300m"}, clamps: 1, warning: "container side was raised from 200m"},
		{name: "Pod min: the least ratio whose sum passes", limits: NamespaceLimits{Items: []*corev1.LimitRange{limitRange("pod-min", pod, "900m", "")}},
			pod: newPod(withCPU("1"), sidecar("500m")), want: []string{"600m", "300m"}, clamps: 1,
			warning: "the pod's CPU requests were raised from 750m in all (limits × 0.5, the cpuOvercommitRatio of pool general) to 900m (limits × 0.6), so that LimitRange pod-min admits the pod (min cpu 900m per Pod)"},
		// Both: the container's warning says what the pool's ratio made of
		// its request, not the raised ratio's (a review: "from 240m (its
		// limit × 0.5)").
		{name: "Pod min and Container min", limits: NamespaceLimits{Items: []*corev1.LimitRange{limitRange("ctr-min", ctr, "300m", ""), limitRange("pod-min", pod, "1500m", "")}},
			pod: newPod(withCPU("2"), sidecar("400m")), want: []string{"1200m", "300m"}, clamps: 2,
			warning: "container side was raised from 200m (its limit × 0.5, the cpuOvercommitRatio of pool general) to 300m"},
		{name: "Pod ratio 1.5", limits: NamespaceLimits{Items: []*corev1.LimitRange{limitRange("pod-ratio", pod, "", "1.5")}},
			pod: newPod(withCPU("1500m")), want: []string{"1001m"}, clamps: 1, // 1000m would be limits × 0.6667
			warning: "(maxLimitRequestRatio cpu 1500m per Pod)"},
		{name: "Pod min above the limits: left to the LimitRanger", limits: NamespaceLimits{Items: []*corev1.LimitRange{limitRange("pod-min", pod, "4", "")}},
			pod: newPod(withCPU("1")), want: []string{"500m"}},
		{name: "not read yet: unclamped, said", limits: NamespaceLimits{Unread: errors.New("the LimitRange informer has not listed them yet")},
			pod: newPod(withCPU("500m")), want: []string{"250m"},
			warning: "CPU requests are limits × 0.5, not checked against the namespace's LimitRanges (the LimitRange informer has not listed them yet)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var told []Clamp
			tt.limits.OnClamp = func(c Clamp) { told = append(told, c) }
			warnings, err := p.WithLimitRanges(tt.limits).Mutate(tt.pod, "shop")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range tt.pod.Spec.Containers {
				q := c.Resources.Requests[corev1.ResourceCPU]
				got = append(got, q.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("CPU requests %v, want %v", got, tt.want)
			}
			if len(told) != tt.clamps {
				t.Errorf("OnClamp told of %d clamps (%+v), want %d", len(told), told, tt.clamps)
			}
			joined := strings.Join(warnings, "\n")
			if tt.warning == "" && strings.Contains(joined, "CPU request") || !strings.Contains(joined, tt.warning) {
				t.Errorf("warnings %q, want %q", joined, tt.warning)
			}
		})
	}
}

// TestWithLimitRangesNoneIsFree: a namespace without CPU bounds gets the
// policy itself, so the common review copies nothing.
func TestWithLimitRangesNoneIsFree(t *testing.T) {
	p, err := Parse([]byte(limitRangePolicy))
	if err != nil {
		t.Fatal(err)
	}
	mem := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
		Min: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Mi")}}}}}
	for _, l := range []NamespaceLimits{{}, {Items: []*corev1.LimitRange{mem}}} {
		if got := p.WithLimitRanges(l); got != p {
			t.Errorf("WithLimitRanges(%+v) copied the policy", l)
		}
	}
	if n := testing.AllocsPerRun(100, func() { p.WithLimitRanges(NamespaceLimits{}) }); n != 0 {
		t.Errorf("WithLimitRanges without LimitRanges allocates %v times", n)
	}
}
