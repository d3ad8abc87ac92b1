package deploy

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/render"
	"github.com/zzcloud/zz/internal/syncbuf"
)

// renderedFor is the Deployment kubectl zz renders for spec (shop, web on
// 8080, image reg/shop:1.0, then edit), as an apply stores it.
func renderedFor(t *testing.T, edit func(s *appspec.Spec)) (*appspec.App, *appsv1.Deployment) {
	t.Helper()
	app := &appspec.App{Name: "shop", Spec: appspec.Spec{Type: appspec.TypeWeb, Image: "reg/shop:1.0", Version: "1.0"}}
	edit(&app.Spec)
	app.Default()
	for _, o := range render.Render(app, render.Options{Namespace: "ns"}) {
		if d, ok := o.(*appsv1.Deployment); ok {
			return app, d
		}
	}
	t.Fatal("no Deployment rendered")
	return nil, nil
}

// TestRolloutTimeout: without --timeout, the wait for a rollout lasts the
// startup window of one new pod (render.StartupWindow, which the
// Deployment's progressDeadlineSeconds covers too) for each batch of new
// pods the strategy starts one after another, plus the margin of a start,
// at least the 5 minutes it always was and at most 2 hours unless one batch
// needs more; the progress says so where it is longer than 5 minutes. A
// batch is its pods' start and then their soak (spec.minReadySeconds: the
// next batch starts once this one is available). An explicit --timeout
// always wins, and one shorter than a pod's start and soak is warned of.
func TestRolloutTimeout(t *testing.T) {
	for _, tt := range []struct {
		name     string
		spec     func(s *appspec.Spec)
		timeout  time.Duration // --timeout; 0 for none
		together bool          // a scale
		created  bool          // the apply created the Deployment (generation 1)
		batches  int32
		want     time.Duration
		line     string // in the progress line
		quiet    bool   // no progress line
	}{
		{name: "a web app without startupTimeout", spec: func(s *appspec.Spec) {}, batches: 2, want: 5 * time.Minute, quiet: true},
		{name: "startupTimeout 20m, 2 pods, surge", spec: func(s *appspec.Spec) { s.StartupTimeout = "20m" }, batches: 2, want: 45 * time.Minute,
			line: "waiting up to 45m: a new pod of shop may take 20m to start by its startup probes (spec.startupTimeout), its rollout starts 2 batches of pods one after another; --timeout sets another bound"},
		{name: "one pod", spec: func(s *appspec.Spec) { s.StartupTimeout = "20m"; s.Replicas = ptr.To[int32](1) }, batches: 1, want: 25 * time.Minute,
			line: "waiting up to 25m: a new pod of shop may take 20m to start by its startup probes (spec.startupTimeout), its pods start at once; --timeout sets another bound"},
		{name: "java's 3 minutes over 10 pods, surge 25%", spec: func(s *appspec.Spec) { s.Type = appspec.TypeJava; s.Replicas = ptr.To[int32](10) },
			batches: 4, want: 17 * time.Minute, line: "waiting up to 17m: a new pod of shop may take 3m to start"},
		{name: "replace over 10 pods: 2 at a time", spec: func(s *appspec.Spec) {
			s.StartupTimeout = "10m"
			s.Replicas = ptr.To[int32](10)
			s.Rollout = appspec.RolloutReplace
		}, batches: 5, want: 55 * time.Minute, line: "its rollout starts 5 batches of pods one after another"},
		{name: "replace over 3 pods: one at a time", spec: func(s *appspec.Spec) {
			s.StartupTimeout = "10m"
			s.Replicas = ptr.To[int32](3)
			s.Rollout = appspec.RolloutReplace
		}, batches: 3, want: 35 * time.Minute},
		{name: "sidecars' startups in turn", spec: func(s *appspec.Spec) {
			s.StartupTimeout = "10m"
			s.Sidecars = []appspec.Sidecar{{Name: "db-proxy", Image: "reg/p:1", Ports: []appspec.Port{{Name: "db", Port: 5432}}, Startup: &appspec.SidecarStartup{Port: "db"}}}
		}, batches: 2, want: 45 * time.Minute},
		{name: "capped at 2h", spec: func(s *appspec.Spec) {
			s.StartupTimeout = "40m"
			s.Replicas = ptr.To[int32](7)
			s.Rollout = appspec.RolloutReplace
		}, batches: 7, want: 2 * time.Hour, line: "7 batches of pods one after another (at most 2h)"},
		{name: "one batch over the cap", spec: func(s *appspec.Spec) {
			s.StartupTimeout = "1h"
			s.Sidecars = []appspec.Sidecar{{Name: "db-proxy", Image: "reg/p:1", Ports: []appspec.Port{{Name: "db", Port: 5432}}, Startup: &appspec.SidecarStartup{Port: "db"}}}
		}, batches: 2, want: 2*time.Hour + 5*time.Minute, line: "waiting up to 2h5m: a new pod of shop may take 2h to start"},
		{name: "a scale starts its pods at once", spec: func(s *appspec.Spec) { s.StartupTimeout = "20m" }, together: true, batches: 2, want: 25 * time.Minute, line: "its pods start at once"},
		{name: "a first deploy starts its pods at once", spec: func(s *appspec.Spec) { s.StartupTimeout = "20m" }, created: true, batches: 2, want: 25 * time.Minute, line: "its pods start at once"},
		{name: "recreate", spec: func(s *appspec.Spec) {
			s.StartupTimeout = "20m"
			s.Replicas = ptr.To[int32](1)
			s.PVC = &appspec.PVC{Size: "1Gi", MountPath: "/data", AccessMode: appspec.AccessModeOnce}
		}, batches: 1, want: 25 * time.Minute},
		{name: "--timeout wins", spec: func(s *appspec.Spec) { s.StartupTimeout = "20m" }, timeout: 30 * time.Minute, batches: 2, want: 30 * time.Minute, quiet: true},
		{name: "--timeout shorter than a pod's start is warned of", spec: func(s *appspec.Spec) { s.StartupTimeout = "20m" }, timeout: 5 * time.Minute, batches: 2, want: 5 * time.Minute,
			line: "Warning: --timeout 5m is shorter than the 20m a new pod of shop may take to start by its startup probes (spec.startupTimeout): the rollout may fail while its pods are still starting; without --timeout kubectl zz waits up to 45m"},
		{name: "--timeout shorter than the default", spec: func(s *appspec.Spec) {}, timeout: 90 * time.Second, batches: 2, want: 90 * time.Second, quiet: true},
		{name: "a soak per batch", spec: func(s *appspec.Spec) { s.MinReadySeconds = 10 }, batches: 2, want: 5*time.Minute + 20*time.Second,
			line: "waiting up to 5m20s: a new pod of shop must stay ready 10s (spec.minReadySeconds) before it counts as available, its rollout starts 2 batches of pods one after another; --timeout sets another bound"},
		{name: "a start, then a soak, per batch", spec: func(s *appspec.Spec) { s.StartupTimeout = "20m"; s.MinReadySeconds = 30 }, batches: 2, want: 46 * time.Minute,
			line: "waiting up to 46m: a new pod of shop may take 20m to start by its startup probes (spec.startupTimeout) and must then stay ready 30s (spec.minReadySeconds), its rollout starts 2 batches"},
		{name: "a scale soaks once", spec: func(s *appspec.Spec) { s.MinReadySeconds = 60 }, together: true, batches: 2, want: 6 * time.Minute, line: "its pods start at once"},
		{name: "an hour's soak over 7 batches: capped", spec: func(s *appspec.Spec) {
			s.MinReadySeconds = 3600
			s.Replicas = ptr.To[int32](7)
			s.Rollout = appspec.RolloutReplace
		}, batches: 7, want: 2 * time.Hour, line: "(at most 2h)"},
		{name: "--timeout within the start and soak", spec: func(s *appspec.Spec) { s.StartupTimeout = "1m"; s.MinReadySeconds = 60 }, timeout: 90 * time.Second, batches: 2, want: 90 * time.Second,
			line: "Warning: --timeout 1m30s is shorter than one batch of new pods may take, 2m: a new pod of shop may take 1m to start by its startup probes (spec.startupTimeout) and must then stay ready 1m (spec.minReadySeconds); the rollout may fail while its pods are still starting or soaking; without --timeout kubectl zz waits up to 9m"},
		{name: "--timeout over the start and soak", spec: func(s *appspec.Spec) { s.MinReadySeconds = 60 }, timeout: 61 * time.Second, batches: 2, want: 61 * time.Second, quiet: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app, d := renderedFor(t, tt.spec)
			if got := RolloutBatches(d); got != tt.batches && !tt.together {
				t.Errorf("batches %d, want %d", got, tt.batches)
			}
			st := startOf(app)
			st.together = tt.together
			if tt.created {
				d.Generation = 1
			}
			got, line := waitTimeout(&Options{Timeout: tt.timeout}, "shop", st, d)
			if got != tt.want {
				t.Errorf("timeout %s, want %s", got, tt.want)
			}
			if tt.quiet && line != "" || !tt.quiet && (line == "" || !strings.Contains(line, tt.line)) {
				t.Errorf("line %q, want %q", line, tt.line)
			}
		})
	}
}

// TestRolloutBatches: the batches of new pods a Deployment's strategy
// starts one after another, as the Deployment controller rounds: surge up,
// unavailable down, one at a time where both are none.
func TestRolloutBatches(t *testing.T) {
	dep := func(replicas *int32, strategy appsv1.DeploymentStrategy) *appsv1.Deployment {
		return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: replicas, Strategy: strategy}}
	}
	rolling := func(surge, down intstr.IntOrString) appsv1.DeploymentStrategy {
		return appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &down}}
	}
	quarter, zero, one := intstr.FromString("25%"), intstr.FromInt32(0), intstr.FromInt32(1)
	for _, tt := range []struct {
		name string
		d    *appsv1.Deployment
		want int32
	}{
		{"no replicas", dep(ptr.To[int32](0), rolling(quarter, zero)), 0},
		{"replicas unset: 1", dep(nil, rolling(quarter, zero)), 1},
		{"surge 25% of 100", dep(ptr.To[int32](100), rolling(quarter, zero)), 4},
		{"surge 25% of 5: 2 at a time", dep(ptr.To[int32](5), rolling(quarter, zero)), 3},
		{"both 25% of 10: 3 up, 2 down", dep(ptr.To[int32](10), rolling(quarter, quarter)), 2},
		{"both none: one down at a time", dep(ptr.To[int32](4), rolling(zero, zero)), 4},
		{"surge 1", dep(ptr.To[int32](6), rolling(one, zero)), 6},
		{"recreate", dep(ptr.To[int32](6), appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}), 1},
		{"the API's defaults", dep(ptr.To[int32](8), appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}), 2},
	} {
		if got := RolloutBatches(tt.d); got != tt.want {
			t.Errorf("%s: %d batches, want %d", tt.name, got, tt.want)
		}
	}
}

// TestCommandsWaitForStartup: deploy, rollback, scale and restart of an app
// with startupTimeout: 20m, given no timeout (Options.Timeout 0, the CLI
// without --timeout), wait as long as its pods may take to start, batch by
// batch of the Deployment they applied, and say so before they wait; a
// timeout given shorter than one pod's start is warned of; deploy --debug,
// without probes, waits the default. Each rollout is
// let through once the command has said it (its wait would last 45
// minutes).
func TestCommandsWaitForStartup(t *testing.T) {
	const slow = "  startupTimeout: 20m\n"
	for _, tt := range []struct {
		name    string
		timeout time.Duration
		run     func(ctx context.Context, c *fake.Clientset, o Options) error
		want    string // in the progress; "" for no "waiting up to"
	}{
		{name: "deploy", run: func(ctx context.Context, c *fake.Clientset, o Options) error {
			_, err := Run(ctx, c, &Config{Options: o, App: spec(t, "reg/shop:2", slow)})
			return err
		}, want: "waiting up to 45m: a new pod of shop may take 20m to start by its startup probes (spec.startupTimeout), its rollout starts 2 batches of pods one after another"},
		{name: "rollback", run: func(ctx context.Context, c *fake.Clientset, o Options) error {
			_, err := Rollback(ctx, c, &RollbackConfig{Options: o, App: "shop", ToRevision: 1})
			return err
		}, want: "waiting up to 45m: a new pod of shop may take 20m"},
		{name: "restart", run: func(ctx context.Context, c *fake.Clientset, o Options) error {
			_, err := Restart(ctx, c, &ChangeConfig{Options: o, App: "shop"})
			return err
		}, want: "waiting up to 45m: a new pod of shop may take 20m"},
		{name: "scale", run: func(ctx context.Context, c *fake.Clientset, o Options) error {
			_, err := Scale(ctx, c, &ChangeConfig{Options: o, App: "shop"}, 8)
			return err
		}, want: "waiting up to 25m: a new pod of shop may take 20m to start by its startup probes (spec.startupTimeout), its pods start at once"},
		{name: "deploy --debug: no probes, no startup to wait for", run: func(ctx context.Context, c *fake.Clientset, o Options) error {
			_, err := Run(ctx, c, &Config{Options: o, App: spec(t, "reg/shop:2", slow), Debug: true})
			return err
		}},
		{name: "deploy --timeout 2m", timeout: 2 * time.Minute, run: func(ctx context.Context, c *fake.Clientset, o Options) error {
			_, err := Run(ctx, c, &Config{Options: o, App: spec(t, "reg/shop:2", slow)})
			return err
		}, want: "Warning: --timeout 2m is shorter than the 20m a new pod of shop may take to start"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			ctl := startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", slow), 0)
			deployOK(t, c, spec(t, "reg/shop:3", slow), 0)
			for _, img := range []string{"reg/shop:1", "reg/shop:2", "reg/shop:3"} {
				ctl.setStuck(img)
			}
			var progress syncbuf.Buffer
			o := opts()
			o.Timeout, o.Progress = tt.timeout, &progress
			go func() {
				for deadline := time.Now().Add(10 * time.Second); !strings.Contains(progress.String(), "updated") && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				ctl.mu.Lock()
				clear(ctl.stuck)
				ctl.mu.Unlock()
			}()
			if err := tt.run(t.Context(), c, o); err != nil {
				t.Fatal(err)
			}
			if tt.want == "" && strings.Contains(progress.String(), "waiting up to") || !strings.Contains(progress.String(), tt.want) {
				t.Errorf("progress:\n%s\nwant %q", progress.String(), tt.want)
			}
		})
	}
}
