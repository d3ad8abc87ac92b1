package deploy

import (
	"cmp"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/prose"
	"github.com/zzcloud/zz/internal/render"
)

// MaxRolloutTimeout caps the wait RolloutTimeout derives, unless one batch
// of new pods needs longer: a rollout slower than that is one to follow
// with kubectl zz status -w, or to give a --timeout of its own.
const MaxRolloutTimeout = 2 * time.Hour

// podStart is how the new pods of what a command applied start: how long
// one may take by its startup probes (render.StartupWindow of the spec it
// was rendered from; 0 where no spec is recorded), how long it must then
// stay ready before it counts as available (soak: spec.minReadySeconds),
// and whether they start together, with no rollout in batches (a scale:
// the pod template stays).
type podStart struct {
	window   time.Duration
	soak     time.Duration
	together bool
}

// startOf is how the pods of spec start; nil (a record without its
// spec) is no startup window and no soak.
func startOf(spec *appspec.App) podStart {
	if spec == nil {
		return podStart{}
	}
	return podStart{window: render.StartupWindow(&spec.Spec), soak: spec.Spec.MinReady()}
}

// batch is how long one batch of new pods may take: its start, then its
// soak.
func (st podStart) batch() time.Duration { return st.window + st.soak }

// words says how long a new pod of app may take to start and to soak.
func (st podStart) words(app string) string {
	soak := fmt.Sprintf("stay ready %s (spec.minReadySeconds)", prose.Duration(st.soak))
	if st.window == 0 {
		return fmt.Sprintf("a new pod of %s must %s before it counts as available", app, soak)
	}
	out := fmt.Sprintf("a new pod of %s may take %s to start by its startup probes (spec.startupTimeout)", app, prose.Duration(st.window))
	if st.soak > 0 {
		out += " and must then " + soak
	}
	return out
}

// RolloutTimeout is how long kubectl zz waits for a rollout where the user
// gave no --timeout: the startup window of one new pod and its soak
// (startup, podStart.batch) for each of the batches its strategy starts
// one after another (the next batch starts only once this one is
// available), plus
// render.StartupMargin once for the rest of a start (scheduling, the image
// pull), at least DefaultTimeout, at most MaxRolloutTimeout unless one
// batch needs more. An app with startupTimeout: 20m failed at the fixed
// 5 minutes while its pods were still legitimately starting.
func RolloutTimeout(startup time.Duration, batches int32) time.Duration {
	d := startup*time.Duration(batches) + render.StartupMargin
	d = min(d, max(MaxRolloutTimeout, startup+render.StartupMargin))
	return max(d, DefaultTimeout)
}

// RolloutBatches is how many batches of new pods a rollout of d starts one
// after another, as the Deployment controller steps it: maxSurge new pods
// beside the old ones (rounded up), maxUnavailable old ones down for new
// ones (rounded down; 1 where both are 0), so 4 of 10 pods with surge 25%
// are 3 batches, 1 of 10 with replace (10 × 25% is 2) 5; Recreate all at
// once. None for no replicas.
func RolloutBatches(d *appsv1.Deployment) int32 {
	n := ptr.Deref(d.Spec.Replicas, 1)
	if n <= 0 {
		return 0
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType || ru == nil {
		return 1
	}
	quarter := intstr.FromString("25%") // the API's default of both
	surge, _ := intstr.GetScaledValueFromIntOrPercent(cmp.Or(ru.MaxSurge, &quarter), int(n), true)
	down, _ := intstr.GetScaledValueFromIntOrPercent(cmp.Or(ru.MaxUnavailable, &quarter), int(n), false)
	step := max(surge+down, 1)
	return int32((int(n) + step - 1) / step)
}

// waitTimeout is how long a wait for the rollout of d (the Deployment as
// the command's apply stored it; nil where unknown: one batch) lasts, and
// a line that says why where it is not what the user expects: --timeout
// where given, with a warning when it is shorter than one pod's start,
// else RolloutTimeout, said where longer than DefaultTimeout.
func waitTimeout(o *Options, app string, st podStart, d *appsv1.Deployment) (time.Duration, string) {
	batches := int32(1)
	// Generation 1: the apply created it, and a new Deployment starts all
	// its pods at once (a review: "starts 2 batches" on a first deploy).
	if d != nil && !st.together && d.Generation != 1 {
		batches = RolloutBatches(d)
	}
	derived := RolloutTimeout(st.batch(), batches)
	if o.Timeout > 0 {
		switch {
		case o.Timeout >= st.batch():
			return o.Timeout, ""
		case st.soak == 0:
			return o.Timeout, fmt.Sprintf("Warning: --timeout %s is shorter than the %s a new pod of %s may take to start by its startup probes (spec.startupTimeout): the rollout may fail while its pods are still starting; without --timeout kubectl zz waits up to %s",
				prose.Duration(o.Timeout), prose.Duration(st.window), app, prose.Duration(derived))
		}
		return o.Timeout, fmt.Sprintf("Warning: --timeout %s is shorter than one batch of new pods may take, %s: %s; the rollout may fail while its pods are still starting or soaking; without --timeout kubectl zz waits up to %s",
			prose.Duration(o.Timeout), prose.Duration(st.batch()), st.words(app), prose.Duration(derived))
	}
	if derived <= DefaultTimeout {
		return derived, ""
	}
	capped := ""
	if derived < st.batch()*time.Duration(batches)+render.StartupMargin {
		capped = fmt.Sprintf(" (at most %s)", prose.Duration(derived))
	}
	return derived, fmt.Sprintf("waiting up to %s: %s, %s%s; --timeout sets another bound",
		prose.Duration(derived), st.words(app), batchWords(batches), capped)
}

// batchWords says how a rollout of n batches starts its pods.
func batchWords(n int32) string {
	if n <= 1 {
		return "its pods start at once"
	}
	return fmt.Sprintf("its rollout starts %d batches of pods one after another", n)
}
