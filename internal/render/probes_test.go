package render

import (
	"testing"
	"time"

	"github.com/zzcloud/zz/internal/appspec"
)

// TestStartupTimeoutKept: spec.startupTimeout is the time a container gets
// to start, whatever spec.healthTimeout. The kubelet probes a container
// once at start, then each period, and runs one probe at a time (a hung
// app costs the timeout per try, so a try lasts max(period, timeout)), and
// restarts it at the FailureThreshold-th failure. So the period is
// max(default period, healthTimeout) and the threshold
// ceil(startupTimeout / period), at least 1: an app that refuses
// connections until it is up (a failure in microseconds) is restarted
// (threshold-1) x period after it starts, one that accepts and hangs
// threshold x period after, both within one period of startupTimeout
// (java: 3 min). Readiness and liveness keep their 3 tries, every
// max(5 s, healthTimeout) and max(10 s, healthTimeout): an unready pod
// leaves the Service after 3 periods (15 s with the default timeout).
func TestStartupTimeoutKept(t *testing.T) {
	for _, tt := range []struct {
		startup, health string
		timeout         int32 // readiness's, startup's and liveness's when health is set
	}{
		{"30s", "", 0}, {"30s", "5s", 5}, {"30s", "10s", 10}, {"30s", "30s", 30}, {"30s", "60s", 60},
		{"1m", "5s", 5}, {"1m", "7s", 7}, {"1m", "30s", 30}, {"1m", "60s", 60},
		{"3m", "5s", 5}, {"3m", "30s", 30}, {"3m", "60s", 60},
		{"5m", "60s", 60}, {"5s", "60s", 60},
		{"", "", 0}, {"", "1s", 1}, {"", "5s", 5}, {"", "7s", 7}, {"", "30s", 30}, {"", "60s", 60},
	} {
		spec := "apiVersion: zz.io/v1\nkind: App\nname: a\nspec:\n  type: java\n  image: reg/a:1\n"
		if tt.startup != "" {
			spec += "  startupTimeout: " + tt.startup + "\n"
		}
		if tt.health != "" {
			spec += "  healthTimeout: " + tt.health + "\n"
		}
		app, err := appspec.Load("a.zz.yaml", []byte(spec))
		if err != nil {
			t.Fatal(err)
		}
		c := deployment(t, Render(app, Options{Namespace: "ns"})).Spec.Template.Spec.Containers[0]
		want := 3 * time.Minute // java's
		if tt.startup != "" {
			want, _ = time.ParseDuration(tt.startup)
		}
		s, r, l := c.StartupProbe, c.ReadinessProbe, c.LivenessProbe
		sec := func(n int32) time.Duration { return time.Duration(n) * time.Second }
		try := sec(max(s.PeriodSeconds, s.TimeoutSeconds)) // a hung app's try
		refusing := time.Duration(s.FailureThreshold-1) * sec(s.PeriodSeconds)
		hung := time.Duration(s.FailureThreshold) * try
		if s.FailureThreshold < 1 || refusing < want-try || hung < want && s.FailureThreshold > 1 || hung >= want+try {
			t.Errorf("startupTimeout %q healthTimeout %q: period %ds, timeout %ds, threshold %d: restarted after %v (refusing) or %v (hung), not within %v of %v",
				tt.startup, tt.health, s.PeriodSeconds, s.TimeoutSeconds, s.FailureThreshold, refusing, hung, try, want)
		}
		wantReady, wantLive := tt.timeout, tt.timeout
		if tt.timeout == 0 {
			wantReady, wantLive = 2, 3
		}
		if s.PeriodSeconds != max(5, wantReady) || r.PeriodSeconds != max(5, wantReady) || l.PeriodSeconds != max(10, wantLive) {
			t.Errorf("startupTimeout %q healthTimeout %q: periods startup %d, readiness %d, liveness %d; want %d, %d, %d",
				tt.startup, tt.health, s.PeriodSeconds, r.PeriodSeconds, l.PeriodSeconds, max(5, wantReady), max(5, wantReady), max(10, wantLive))
		}
		if s.TimeoutSeconds != wantReady || r.TimeoutSeconds != wantReady || l.TimeoutSeconds != wantLive {
			t.Errorf("healthTimeout %q: timeouts startup %d, readiness %d, liveness %d; want %d, %d, %d",
				tt.health, s.TimeoutSeconds, r.TimeoutSeconds, l.TimeoutSeconds, wantReady, wantReady, wantLive)
		}
	}
}
