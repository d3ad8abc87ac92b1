package render

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

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
		{name: "tcp, a minute", spec: "ports: [{name: db, port: 5432}], startup: {port: db}", want: "tcp db  2/2/30"},
		{name: "http, startupTimeout", spec: "ports: [{name: h, port: 9090}], startup: {port: h, path: /startup}", want: "http h /startup 2/2/45"},
		{name: "healthTimeout is its timeout", spec: "ports: [{name: db, port: 5432}], startup: {port: db}", want: "tcp db  5/5/12"},
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

// TestSidecarStartupBoundedByStartupTimeout: a sidecar's startup probe
// fails within spec.startupTimeout (rounded up to one period) even when
// every try hangs for its timeout, as the kubelet runs a container's tries
// one after another (review 17b 3.1: 1 s tries of a 10 s healthTimeout made
// 60 s ten minutes).
func TestSidecarStartupBoundedByStartupTimeout(t *testing.T) {
	for _, health := range []string{"", "1s", "2s", "5s", "10s", "60s"} {
		for _, startup := range []string{"", "30s", "61s", "1h"} {
			t.Run(health+"/"+startup, func(t *testing.T) {
				spec := "apiVersion: zz.io/v1\nkind: App\nname: a\nspec:\n  type: web\n  image: reg/a:1\n" +
					"  sidecars: [{name: px, image: 'px:1', ports: [{name: h, port: 9090}], startup: {port: h, path: /startup}}]\n"
				window := appspec.DefaultSidecarStartupTimeout
				if startup != "" {
					spec += "  startupTimeout: " + startup + "\n"
					window, _ = time.ParseDuration(startup)
				}
				if health != "" {
					spec += "  healthTimeout: " + health + "\n"
				}
				app, err := appspec.Load("a.zz.yaml", []byte(spec))
				if err != nil {
					t.Fatal(err)
				}
				p := deployment(t, Render(app, Options{Namespace: "ns"})).Spec.Template.Spec.InitContainers[0].StartupProbe
				try := time.Duration(max(p.PeriodSeconds, p.TimeoutSeconds)) * time.Second
				hung := time.Duration(p.FailureThreshold) * try
				if hung < window || hung >= window+try && p.FailureThreshold > 1 {
					t.Errorf("period %d, timeout %d, threshold %d: hung tries fail the sidecar after %s, startupTimeout %s",
						p.PeriodSeconds, p.TimeoutSeconds, p.FailureThreshold, hung, window)
				}
			})
		}
	}
}

// TestProgressDeadlineCoversStartup: the Deployment's progress deadline
// outlasts what its startup probes allow a new pod (each sidecar's startup,
// then the app's) plus a margin, so a pod still legitimately starting is
// not reported ProgressDeadlineExceeded, which fails deploy (review 17b: a
// fixed 600 s under a 30 min startupTimeout); a new pod's soak
// (spec.minReadySeconds) comes on top, and the deadline stays above it, as
// the API requires.
func TestProgressDeadlineCoversStartup(t *testing.T) {
	sidecar := "  sidecars: [{name: px, image: 'px:1', ports: [{name: h, port: 9090}], startup: {port: h}}]\n"
	for _, tt := range []struct {
		name, spec string
		want       int32
	}{
		{name: "web, no startupTimeout", spec: "  type: web\n", want: 600},
		{name: "java's 3 min", spec: "  type: java\n", want: 600},
		{name: "5 min startup", spec: "  type: web\n  startupTimeout: 5m\n", want: 600},
		{name: "30 min startup", spec: "  type: web\n  startupTimeout: 30m\n", want: 35 * 60},
		{name: "30 min startup and a sidecar's", spec: "  type: web\n  startupTimeout: 30m\n" + sidecar, want: 65 * 60},
		{name: "an hour, two sidecars", spec: "  type: web\n  startupTimeout: 1h\n  sidecars: [{name: a, image: 'a:1', ports: [{name: ha, port: 1}], startup: {port: ha}}, {name: b, image: 'b:1', ports: [{name: hb, port: 2}], startup: {port: hb}}]\n", want: 3*3600 + 300},
		{name: "a worker's sidecar", spec: "  type: worker\n  startupTimeout: 20m\n" + sidecar, want: 25 * 60},
		{name: "a worker's healthCommand", spec: "  type: worker\n  startupTimeout: 20m\n  healthCommand: [/app/check]\n", want: 25 * 60},
		{name: "a worker's healthCommand and sidecar", spec: "  type: worker\n  startupTimeout: 20m\n  healthCommand: [/app/check]\n" + sidecar, want: 45 * 60},
		{name: "a soak within the default", spec: "  type: web\n  minReadySeconds: 60\n", want: 600},
		{name: "a soak after a 10 min startup", spec: "  type: web\n  startupTimeout: 10m\n  minReadySeconds: 30\n", want: 10*60 + 30 + 300},
		{name: "an hour's soak alone", spec: "  type: worker\n  minReadySeconds: 3600\n", want: 3600 + 300},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app, err := appspec.Load("a.zz.yaml", []byte("apiVersion: zz.io/v1\nkind: App\nname: a\nspec:\n  image: reg/a:1\n"+tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			if got := *deployment(t, Render(app, Options{Namespace: "ns"})).Spec.ProgressDeadlineSeconds; got != tt.want {
				t.Errorf("progressDeadlineSeconds %d, want %d", got, tt.want)
			}
		})
	}
}

// TestHealthCommand: spec.healthCommand renders readiness, liveness and
// (with a startup window) startup as exec probes of the command on every
// type, each with the timings of the check it replaces (a worker's, which
// has none, those of the others); a worker gets its first probes from it,
// and --debug strips them as any others.
func TestHealthCommand(t *testing.T) {
	cmd := []string{"/app/healthcheck", "--max-age=60s"}
	load := func(t *testing.T, spec string) *appspec.App {
		t.Helper()
		app, err := appspec.Load("a.zz.yaml", []byte("apiVersion: zz.io/v1\nkind: App\nname: a\nspec:\n  image: reg/a:1\n"+spec))
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	app := func(t *testing.T, spec string, debug bool) corev1.Container {
		t.Helper()
		return deployment(t, Render(load(t, spec), Options{Namespace: "ns", Debug: debug})).Spec.Template.Spec.Containers[0]
	}
	for _, tt := range []struct{ name, spec, like string }{
		{"web", "  type: web\n", "  type: web\n"},
		{"java", "  type: java\n", "  type: java\n"},
		{"rpc", "  type: rpc\n", "  type: rpc\n"},
		{"web, startupTimeout and healthTimeout", "  type: web\n  startupTimeout: 2m\n  healthTimeout: 7s\n", "  type: web\n  startupTimeout: 2m\n  healthTimeout: 7s\n"},
		{"worker", "  type: worker\n", "  type: web\n"},
		{"worker, startupTimeout and healthTimeout", "  type: worker\n  startupTimeout: 2m\n  healthTimeout: 7s\n", "  type: web\n  startupTimeout: 2m\n  healthTimeout: 7s\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := app(t, tt.spec+"  healthCommand: [/app/healthcheck, --max-age=60s]\n", false)
			want := app(t, tt.like, false)
			probes := func(c corev1.Container) []*corev1.Probe {
				return []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe}
			}
			for i, p := range probes(got) {
				w := probes(want)[i]
				if (p == nil) != (w == nil) {
					t.Fatalf("probe %d: %+v, want one like %+v", i, p, w)
				}
				if p == nil {
					continue
				}
				if p.Exec == nil || !slices.Equal(p.Exec.Command, cmd) || p.HTTPGet != nil || p.TCPSocket != nil || p.GRPC != nil {
					t.Errorf("probe %d handler %+v, want exec %q alone", i, p.ProbeHandler, cmd)
				}
				gotT, wantT := *p, *w
				gotT.ProbeHandler, wantT.ProbeHandler = corev1.ProbeHandler{}, corev1.ProbeHandler{}
				if gotT != wantT {
					t.Errorf("probe %d timings %+v, want those of the check it replaces %+v", i, gotT, wantT)
				}
			}
			if got.ReadinessProbe == nil || got.LivenessProbe == nil {
				t.Error("no readiness or liveness probe")
			}
			if c := app(t, tt.spec+"  healthCommand: [/app/healthcheck]\n", true); c.ReadinessProbe != nil || c.LivenessProbe != nil || c.StartupProbe != nil {
				t.Error("--debug kept the probes")
			}
		})
	}
	if c := app(t, "  type: worker\n", false); c.ReadinessProbe != nil || c.LivenessProbe != nil || c.StartupProbe != nil {
		t.Error("a worker without healthCommand got probes")
	}
}
