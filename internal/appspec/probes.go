package appspec

import "time"

// ProbeTiming is one probe's period and timeout, in seconds.
type ProbeTiming struct{ Period, Timeout int32 }

// ProbeTimings are the timings kubectl zz gives readiness (and startup)
// and liveness for spec.healthTimeout healthTimeout: every 5 s and 10 s,
// timing out at 2 s and 3 s, or at healthTimeout for all. The one source
// of them: render renders them, init --from tells them from a chart's.
//
// Only the timeout moves: the kubelet runs one probe at a time per
// container (k8s.io/kubernetes v1.37.2 pkg/kubelet/prober/worker.go, run:
// "for w.doProbe(ctx) { select { case <-probeTicker.C" on a time.Ticker,
// which drops the ticks missed while a probe runs), so a slow probe
// stretches its own interval to the timeout, while a fast one keeps the
// period: an unready pod leaves the Service in 15 s, and startupTimeout /
// period probes still span startupTimeout.
func ProbeTimings(healthTimeout string) (ready, live ProbeTiming) {
	ready, live = ProbeTiming{Period: 5, Timeout: 2}, ProbeTiming{Period: 10, Timeout: 3}
	if d, err := time.ParseDuration(healthTimeout); err == nil && d >= time.Second {
		t := int32(d / time.Second)
		ready.Timeout, live.Timeout = t, t
	}
	return ready, live
}
