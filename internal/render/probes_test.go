package render

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zzcloud/zz/internal/appspec"
)

// TestStartupTimeoutKept: spec.healthTimeout changes only the probes'
// timeouts. The kubelet probes a starting container at once and then
// every period and restarts it at the FailureThreshold-th failure, so an
// app that refuses connections until it is up (a failure in microseconds)
// is killed (FailureThreshold-1)*period after it starts: that must stay
// within one 5 s period of spec.startupTimeout (java: 3 min) whatever the
// healthTimeout, and readiness and liveness keep their 5 s and 10 s
// periods (an unready pod leaves the Service after 15 s, not 3 timeouts).
func TestStartupTimeoutKept(t *testing.T) {
	for _, tt := range []struct {
		startup, health string
		timeout         int32 // readiness's, startup's and liveness's when health is set
	}{
		{"30s", "", 0}, {"30s", "5s", 5}, {"30s", "10s", 10}, {"30s", "30s", 30}, {"30s", "60s", 60},
		{"1m", "5s", 5}, {"1m", "30s", 30}, {"1m", "60s", 60},
		{"3m", "5s", 5}, {"3m", "30s", 30}, {"3m", "60s", 60},
		{"", "", 0}, {"", "1s", 1}, {"", "5s", 5}, {"", "30s", 30}, {"", "60s", 60},
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
		if granted := time.Duration(s.FailureThreshold-1) * time.Duration(s.PeriodSeconds) * time.Second; granted < want-5*time.Second {
			t.Errorf("startupTimeout %q healthTimeout %q: period %ds x threshold %d: a container refusing connections is restarted after %v, not %v",
				tt.startup, tt.health, s.PeriodSeconds, s.FailureThreshold, granted, want)
		}
		if s.PeriodSeconds != 5 || r.PeriodSeconds != 5 || l.PeriodSeconds != 10 {
			t.Errorf("startupTimeout %q healthTimeout %q: periods startup %d, readiness %d, liveness %d; want 5, 5, 10",
				tt.startup, tt.health, s.PeriodSeconds, r.PeriodSeconds, l.PeriodSeconds)
		}
		wantReady, wantLive := tt.timeout, tt.timeout
		if tt.timeout == 0 {
			wantReady, wantLive = 2, 3
		}
		if s.TimeoutSeconds != wantReady || r.TimeoutSeconds != wantReady || l.TimeoutSeconds != wantLive {
			t.Errorf("healthTimeout %q: timeouts startup %d, readiness %d, liveness %d; want %d, %d, %d",
				tt.health, s.TimeoutSeconds, r.TimeoutSeconds, l.TimeoutSeconds, wantReady, wantReady, wantLive)
		}
	}
}

// TestSidecarStartup: a sidecar's startup renders a startup probe, every
// second for spec.startupTimeout (a minute without it), a TCP connect or an
// HTTP GET of its path on the port named; the kubelet then starts
// initCommand and the app only once it succeeds (an app-developer audit: a
// migration through cloud-sql-proxy raced the proxy). None without
// startup, nor with --debug, which strips probes.
func TestSidecarStartup(t *testing.T) {
	for _, tt := range []struct {
		name, spec string
		debug      bool
		want       string // "" = no startup probe; else "tcp|http PORT PATH period/timeout/threshold"
	}{
		{name: "none", spec: "ports: [{name: db, port: 5432}]"},
		{name: "tcp, a minute", spec: "ports: [{name: db, port: 5432}], startup: {port: db}", want: "tcp db  1/2/60"},
		{name: "http, startupTimeout", spec: "ports: [{name: h, port: 9090}], startup: {port: h, path: /startup}", want: "http h /startup 1/2/90"},
		{name: "healthTimeout is its timeout", spec: "ports: [{name: db, port: 5432}], startup: {port: db}", want: "tcp db  1/5/60"},
		{name: "debug strips it", spec: "ports: [{name: db, port: 5432}], startup: {port: db}", debug: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := "apiVersion: zz.io/v1\nkind: App\nname: a\nspec:\n  type: web\n  image: reg/a:1\n  initCommand: [/app/migrate]\n"
			if strings.Contains(tt.name, "startupTimeout") {
				spec += "  startupTimeout: 90s\n"
			}
			if strings.Contains(tt.name, "healthTimeout") {
				spec += "  healthTimeout: 5s\n"
			}
			spec += "  sidecars: [{name: px, image: 'px:1', " + tt.spec + "}]\n"
			app, err := appspec.Load("a.zz.yaml", []byte(spec))
			if err != nil {
				t.Fatal(err)
			}
			ics := deployment(t, Render(app, Options{Namespace: "ns", Debug: tt.debug})).Spec.Template.Spec.InitContainers
			if len(ics) != 2 || ics[0].Name != "px" || ics[1].Name != "init" {
				t.Fatalf("init containers %v, want the sidecar then init", ics)
			}
			got := ""
			if p := ics[0].StartupProbe; p != nil {
				switch {
				case p.TCPSocket != nil:
					got = "tcp " + p.TCPSocket.Port.String() + "  "
				case p.HTTPGet != nil:
					got = "http " + p.HTTPGet.Port.String() + " " + p.HTTPGet.Path + " "
				}
				got += fmt.Sprintf("%d/%d/%d", p.PeriodSeconds, p.TimeoutSeconds, p.FailureThreshold)
			}
			if got != tt.want {
				t.Errorf("startup probe %q, want %q", got, tt.want)
			}
			if ics[1].StartupProbe != nil {
				t.Error("initCommand's container got a startup probe")
			}
		})
	}
}
