package deploy

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/render"
)

func TestParseCanaryShare(t *testing.T) {
	tests := []struct {
		in     string
		stable int32
		want   int32
		bad    bool
	}{
		{in: "1", stable: 3, want: 1}, {in: "25%", stable: 3, want: 1}, {in: "50%", stable: 10, want: 5},
		{in: "10%", stable: 1, want: 1}, {in: "0", bad: true}, {in: "101%", bad: true}, {in: "x", bad: true},
	}
	for _, tt := range tests {
		s, err := ParseCanaryShare(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && s.pods(tt.stable) != tt.want) {
			t.Errorf("%s of %d: %+v, %v; want %d pods", tt.in, tt.stable, s, err, tt.want)
		}
	}
	if _, err := ParseCanaryShare("150%"); err == nil || err.Error() != "--canary 150%: a share of the stable pods is 1% to 100%" {
		t.Errorf("--canary 150%%: %v", err)
	}
}

// TestCanaryPromoteAbortRollback: a canary runs next to the stable
// Deployment; promote rolls stable to it and removes it; abort and a
// rollback remove it and keep stable; each is a revision.
func TestCanaryPromoteAbortRollback(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	canary := func(img string) {
		t.Helper()
		res, err := RunCanary(ctx, c, &Config{Options: opts(), App: spec(t, img, "")}, CanaryShare{Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.AppsV1().Deployments(ns).Get(ctx, "shop-canary", metav1.GetOptions{})
		if err != nil || *d.Spec.Replicas != 1 || d.Spec.Template.Spec.Containers[0].Image != img {
			t.Fatalf("canary deployment %v, %v", d, err)
		}
		if image(t, c) != "reg/shop:1" && image(t, c) != "reg/shop:2" {
			t.Fatalf("canary changed stable to %s", image(t, c))
		}
		hist, _ := History(ctx, c, ns, "shop")
		if last := hist[len(hist)-1]; last.Number != res.Revision || !last.Canary {
			t.Fatalf("canary revision %+v", last)
		}
	}
	gone := func(what string) {
		t.Helper()
		if _, err := c.AppsV1().Deployments(ns).Get(ctx, "shop-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("canary still there after %s: %v", what, err)
		}
	}
	if _, err := Promote(ctx, c, &CanaryActionConfig{Options: opts(), App: "shop"}); !errors.Is(err, ErrNoCanary) {
		t.Fatalf("promote without a canary: %v", err)
	}
	canary("reg/shop:2")
	if _, err := Promote(ctx, c, &CanaryActionConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	gone("promote")
	if img := image(t, c); img != "reg/shop:2" {
		t.Fatalf("stable after promote runs %s", img)
	}
	canary("reg/shop:3")
	if _, err := Abort(ctx, c, &CanaryActionConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	gone("abort")
	canary("reg/shop:4")
	if _, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	gone("rollback")
	if img := image(t, c); img != "reg/shop:2" {
		t.Fatalf("stable after rollback runs %s", img)
	}
	hist, _ := History(ctx, c, ns, "shop")
	var causes []string
	for _, r := range hist {
		causes = append(causes, r.ChangeCause)
	}
	want := []string{"deploy 1", "canary 2 (1 pod)", "promote canary of revision 2", "canary 3 (1 pod)", "abort canary of revision 4", "canary 4 (1 pod)", "rollback to revision 5"}
	if len(causes) != len(want) {
		t.Fatalf("history %q, want %q", causes, want)
	}
	for i := range want {
		if causes[i] != want[i] {
			t.Fatalf("history %q, want %q", causes, want)
		}
	}
	// A rollback to a canary revision restores its stable part, which
	// history does not show for it: it says so, and how to run the canary.
	var progress bytes.Buffer
	o := opts()
	o.Progress = &progress
	res, err := Rollback(ctx, c, &RollbackConfig{Options: o, App: "shop", ToRevision: 4})
	if err != nil || !res.Unchanged {
		t.Fatalf("rollback to canary revision 4: %+v, %v; want unchanged (its stable part, 2, runs)", res, err)
	}
	if want := "revision 4 is a canary revision: a rollback restores its stable part (2), not the canary's 3; to run 3 everywhere: kubectl zz history shop -n " + ns + " --revision 4 --spec | kubectl zz deploy -n " + ns + " -f -\n"; progress.String() != want {
		t.Errorf("progress %q, want %q", progress.String(), want)
	}
}

// TestCanaryRefusedWithAReadWriteOnceVolume: the canary's pod could not
// mount the stable pod's volume from another node; refused before any read.
func TestCanaryRefusedWithAReadWriteOnceVolume(t *testing.T) {
	c := fake.NewClientset()
	app := spec(t, "reg/shop:2", "")
	one := int32(1)
	app.Spec.Replicas = &one
	app.Spec.PVC = &appspec.PVC{Size: "1Gi", MountPath: "/data", AccessMode: appspec.AccessModeOnce}
	_, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: app}, CanaryShare{Count: 1})
	if err == nil || !strings.Contains(err.Error(), "shop has a ReadWriteOnce volume (spec.pvc)") {
		t.Fatalf("canary of an app with a ReadWriteOnce volume: %v", err)
	}
	if len(c.Actions()) != 0 {
		t.Errorf("the refused canary called the apiserver: %v", c.Actions())
	}
}

// TestAbortUnrecordedCanary: a canary whose rollout failed is never
// recorded; its error says abort removes it, and abort does, recording
// nothing, where it refused and sent the user to rollback.
func TestAbortUnrecordedCanary(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	ctl.setStuck("reg/shop:slow")
	_, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:slow", "")}, CanaryShare{Count: 1})
	if err == nil || !strings.Contains(err.Error(), "\nthe canary is scaled to 0: it serves nothing now and starts nothing by itself, and the stable version serves; fix it and deploy --canary again, or kubectl zz abort shop removes it") {
		t.Fatalf("failed canary: %v", err)
	}
	// At 0: its pods do not start on their own once the cause clears
	// (an incident audit saw a failed canary take traffic later).
	if d, err := c.AppsV1().Deployments(ns).Get(t.Context(), render.CanaryName("shop"), metav1.GetOptions{}); err != nil || d.Spec.Replicas == nil || *d.Spec.Replicas != 0 {
		t.Fatalf("the failed canary's Deployment: %v, replicas %v; want 0", err, d.Spec.Replicas)
	}
	// The canary's command re-applied the stable objects as recorded:
	// status names the canary, not the stable Deployment, as drift.
	apps, err := Statuses(t.Context(), c, Live(c), ns, "shop")
	if err != nil || len(apps) != 1 {
		t.Fatalf("status after the failed canary: %v, %d apps", err, len(apps))
	}
	if d := apps[0].Drift; len(d) != 1 || !strings.HasPrefix(d[0], "deployment shop-canary is the canary of a kubectl zz deploy --canary that recorded no revision") {
		t.Errorf("drift after the failed canary: %q", d)
	}
	// abort --diff shows the canary removed, and the stable objects as
	// they run; promote --diff refuses as promote does.
	var out bytes.Buffer
	if changed, err := CanaryDiff(t.Context(), c, ns, "shop", false, "", &out); err != nil || !changed ||
		!strings.Contains(out.String(), "--- live Deployment/shop-canary") || strings.Contains(out.String(), "--- live Deployment/shop\n") {
		t.Errorf("abort --diff of the unrecorded canary: %v, %v\n%s", changed, err, out.String())
	}
	if _, err := CanaryDiff(t.Context(), c, ns, "shop", true, "", &out); !errors.Is(err, ErrNoCanary) {
		t.Errorf("promote --diff of the unrecorded canary: %v", err)
	}
	res, err := Abort(t.Context(), c, &CanaryActionConfig{Options: opts(), App: "shop"})
	if err != nil || !res.Unchanged || res.Revision != 1 {
		t.Fatalf("abort of the unrecorded canary: %+v, %v", res, err)
	}
	if _, err := c.AppsV1().Deployments(ns).Get(t.Context(), render.CanaryName("shop"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the canary is still there: %v", err)
	}
	if hist, _ := History(t.Context(), c, ns, "shop"); len(hist) != 1 || image(t, c) != "reg/shop:1" {
		t.Errorf("%d revisions, image %s: want 1 and the stable one untouched", len(hist), image(t, c))
	}
}

// TestRollbackAfterAFailedCanary: a rollback beside a canary no revision
// records keeps the latest revision, which still runs, and removes the
// canary, where it went one revision back.
func TestRollbackAfterAFailedCanary(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	ctl.setStuck("reg/shop:slow")
	if _, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:slow", "")}, CanaryShare{Count: 1}); err == nil {
		t.Fatal("the stuck canary succeeded")
	}
	if _, err := Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop"}); err != nil || image(t, c) != "reg/shop:2" {
		t.Fatalf("rollback: %v, runs %s; want revision 2's image kept", err, image(t, c))
	}
	if _, err := c.AppsV1().Deployments(ns).Get(t.Context(), render.CanaryName("shop"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the canary is still there: %v", err)
	}
}

// TestCanaryDiff: promote --diff and abort --diff show what each would
// change, changing nothing: promote the stable objects rolled to the
// canary's version and the canary removed, abort the canary removed only;
// without a canary, the error promote and abort give.
func TestCanaryDiff(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	for _, promote := range []bool{true, false} {
		if _, err := CanaryDiff(ctx, c, ns, "shop", promote, "", &bytes.Buffer{}); !errors.Is(err, ErrNoCanary) {
			t.Fatalf("promote %v without a canary: %v", promote, err)
		}
	}
	if _, err := CanaryDiff(ctx, c, ns, "nope", true, "", &bytes.Buffer{}); !errors.Is(err, ErrNoRevision) {
		t.Fatalf("an app that is not there: %v", err)
	}
	if _, err := RunCanary(ctx, c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")}, CanaryShare{Count: 1}); err != nil {
		t.Fatal(err)
	}
	before, _ := History(ctx, c, ns, "shop")
	for _, tc := range []struct {
		name    string
		promote bool
		want    []string
		notWant []string
	}{
		{name: "promote", promote: true,
			want: []string{"--- live Deployment/shop", "-      - image: reg/shop:1", "+      - image: reg/shop:2", "--- live Deployment/shop-canary", "+++ new Deployment/shop-canary"}},
		{name: "abort", promote: false,
			want: []string{"--- live Deployment/shop-canary", "-  name: shop-canary"}, notWant: []string{"+      - image: reg/shop:2", "--- live Deployment/shop\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			changed, err := CanaryDiff(ctx, c, ns, "shop", tc.promote, "", &out)
			if err != nil || !changed {
				t.Fatalf("changed %v, %v", changed, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("diff lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("diff has %q:\n%s", w, out.String())
				}
			}
		})
	}
	// Nothing changed, nothing recorded: the canary still runs.
	if after, _ := History(ctx, c, ns, "shop"); len(after) != len(before) {
		t.Errorf("revisions %d, then %d", len(before), len(after))
	}
	if _, err := c.AppsV1().Deployments(ns).Get(ctx, "shop-canary", metav1.GetOptions{}); err != nil || image(t, c) != "reg/shop:1" {
		t.Errorf("the diff changed the app: canary %v, stable %s", err, image(t, c))
	}
}

// TestCanaryKeepsTheRoute: a canary leaves the Service as it is, whose
// targetPort each pod resolves by name, so one that puts an auth proxy in
// front (or takes it away, or renames the app's port with spec.type) is
// refused before anything is applied: its pods would be reached past the
// proxy, or not at all. One that keeps the route runs.
func TestCanaryKeepsTheRoute(t *testing.T) {
	const proxy = "  sidecars:\n  - {name: auth, image: reg/proxy:7, ports: [{name: auth, port: 4180, front: true}]}\n"
	for _, tc := range []struct {
		name, stable, canary, refused string
	}{
		{"adds a front proxy", "", proxy, "on its pods' port auth, where the Service sends it to port http"},
		{"removes the front proxy", proxy, "", "on its pods' port http, where the Service sends it to port auth"},
		{"changes the type's port", "", "  port: 9000\n", ""},
		{"keeps the front proxy", proxy, proxy, ""},
		{"rpc for web", "", "rpc", "on its pods' port rpc, where the Service sends it to port http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fake.NewClientset()
			startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", tc.stable), 0)
			var app *appspec.App
			if tc.canary == "rpc" {
				app = spec(t, "reg/shop:2", "")
				app.Spec.Type = appspec.TypeRPC
			} else {
				app = spec(t, "reg/shop:2", tc.canary)
			}
			before := len(c.Actions())
			_, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: app}, CanaryShare{Count: 1})
			if tc.refused == "" {
				if err != nil {
					t.Fatalf("canary keeping the route: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.refused) {
				t.Fatalf("canary changing the route: %v, want %q", err, tc.refused)
			}
			for _, a := range c.Actions()[before:] {
				if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" && a.GetResource().Resource != "leases" {
					t.Errorf("the refused canary wrote: %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
		})
	}
}

// TestRollbackOnFailurePastACanary: a --wait=false deploy recorded over a
// canary revision (2) fails; the waiting deploy of the same spec with
// --rollback-on-failure returns to revision 2 as kubectl zz rollback does,
// and as its error without the flag suggests: the stable part only (the
// canary stays gone), and it says so. It re-applied the canary too.
func TestRollbackOnFailurePastACanary(t *testing.T) {
	for _, tt := range []struct {
		name     string
		rollback bool // --rollback-on-failure
		want     string
	}{
		{name: "the way back suggested", want: "kubectl zz rollback shop to return to revision 2 (its stable part, 1)"},
		{name: "rolled back on failure", rollback: true, want: "rolled back to revision 2 (its stable part, 1)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			ctl := startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			if _, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")}, CanaryShare{Count: 1}); err != nil {
				t.Fatal(err)
			}
			ctl.setStuck("reg/shop:bad")
			o := opts()
			o.NoWait = true
			if res, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", "")}); err != nil || res.Revision != 3 {
				t.Fatalf("deploy --wait=false: %+v, %v; want revision 3", res, err)
			}
			var progress bytes.Buffer
			o.NoWait, o.Timeout, o.Progress = false, 300*time.Millisecond, &progress
			res, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", ""), RollbackOnFailure: tt.rollback})
			if !errors.Is(err, ErrRolloutFailed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("the waiting deploy: %v; want %q", err, tt.want)
			}
			if !tt.rollback {
				return
			}
			if res.RolledBackTo != 2 || image(t, c) != "reg/shop:1" {
				t.Errorf("rolled back to %d, stable runs %s; want revision 2's stable part, reg/shop:1", res.RolledBackTo, image(t, c))
			}
			if _, err := c.AppsV1().Deployments(ns).Get(t.Context(), render.CanaryName("shop"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("the canary is back after the rollback on failure (kubectl zz rollback leaves it out): %v", err)
			}
			if note := canaryTargetNote(mustRevision(t, c, 2), "shop", ns); !strings.Contains(progress.String(), note) {
				t.Errorf("progress lacks %q:\n%s", note, progress.String())
			}
		})
	}
}

// mustRevision is revision n of shop's history.
func mustRevision(t *testing.T, c kubernetes.Interface, n int64) *Revision {
	t.Helper()
	hist, err := History(t.Context(), c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range hist {
		if r.Number == n {
			return r
		}
	}
	t.Fatalf("no revision %d in %v", n, hist)
	return nil
}

// TestCanaryCauseNamesFields: a canary's change cause names the fields it
// changes, as a deploy's does (an audit: a canary of a sidecar's image
// alone read "canary 1.0.0 (1 pod)", the stable version and nothing else).
func TestCanaryCauseNamesFields(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:5", sidecars("p:1", "")), 0)
	if _, err := RunCanary(ctx, c, &Config{Options: opts(), App: spec(t, "reg/shop:5", sidecars("p:2", ""))}, CanaryShare{Count: 1}); err != nil {
		t.Fatal(err)
	}
	hist, _ := History(ctx, c, ns, "shop")
	if got, want := hist[len(hist)-1].ChangeCause, "canary 5 (1 pod; sidecars.auth.image)"; got != want {
		t.Fatalf("canary of a sidecar image: cause %q, want %q", got, want)
	}
}

// TestCanaryAgainAfterAFailedOne: from a failed canary scaled to 0, a
// deploy --canary of a fixed version starts its pods again (its apply
// takes the count back) and is promoted as any canary.
func TestCanaryAgainAfterAFailedOne(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	ctl.setStuck("reg/shop:slow")
	if _, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:slow", "")}, CanaryShare{Count: 1}); err == nil {
		t.Fatal("the stuck canary succeeded")
	}
	res, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")}, CanaryShare{Count: 1})
	if err != nil || res.Revision != 2 {
		t.Fatalf("deploy --canary after a failed one: %+v, %v", res, err)
	}
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), render.CanaryName("shop"), metav1.GetOptions{})
	if err != nil || d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Fatalf("the new canary's Deployment: %v, replicas %v; want 1", err, d.Spec.Replicas)
	}
	if apps, err := Statuses(t.Context(), c, Live(c), ns, "shop"); err != nil || len(apps) != 1 || len(apps[0].Drift) != 0 {
		t.Errorf("status of the new canary: %v, %+v", err, apps)
	}
	if _, err := Promote(t.Context(), c, &CanaryActionConfig{Options: opts(), App: "shop"}); err != nil || image(t, c) != "reg/shop:2" {
		t.Fatalf("promote: %v, runs %s", err, image(t, c))
	}
}
