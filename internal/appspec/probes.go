package appspec

import "time"

// StartupTries is a startup probe's failure threshold for a window at
// period seconds: ceil(window / period), at least one. With the period at
// least the probe's timeout (ProbeTimings), the tries span the window
// whether the container refuses or hangs each one.
func StartupTries(window time.Duration, period int32) int32 {
	p := time.Duration(max(period, 1)) * time.Second
	return max(1, int32((window+p-1)/p))
}

// ProbeTiming is one probe's period and timeout, in seconds.
type ProbeTiming struct{ Period, Timeout int32 }

// ProbeTimings are the timings kubectl zz gives readiness (and startup)
// and liveness for spec.healthTimeout healthTimeout: every 5 s and 10 s,
// timing out at 2 s and 3 s, or at healthTimeout for all, each period
// raised to healthTimeout where it is shorter. The one source of them:
// render renders them, init --from tells them from a chart's.
//
// The kubelet runs one probe at a time per container (k8s.io/kubernetes
// v1.37.2 pkg/kubelet/prober/worker.go, run: "for w.doProbe(ctx) { select
// { case <-probeTicker.C" on a time.Ticker, which drops the ticks missed
// while a probe runs), so against an app that accepts and hangs each try
// lasts the timeout: a period shorter than it would be a promise the
// kubelet does not keep (a 5 s period with a 60 s timeout made a 3 min
// startupTimeout 36 min, a hostile-tenant audit). With the period at least
// the timeout, a window of N tries is N periods whether the app fails fast
// or hangs.
func ProbeTimings(healthTimeout string) (ready, live ProbeTiming) {
	ready, live = ProbeTiming{Period: 5, Timeout: 2}, ProbeTiming{Period: 10, Timeout: 3}
	if d, err := time.ParseDuration(healthTimeout); err == nil && d >= time.Second {
		t := int32(d / time.Second)
		ready.Timeout, live.Timeout = t, t
		ready.Period, live.Period = max(ready.Period, t), max(live.Period, t)
	}
	return ready, live
}
