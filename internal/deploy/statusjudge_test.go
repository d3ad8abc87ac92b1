package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// refused is a dry-run patch refused as the apiserver refuses a role that
// may read but not write (view, plus get on secrets).
func refused(resource string) func(runtime.Object) (runtime.Object, error) {
	return func(runtime.Object) (runtime.Object, error) {
		return nil, apierrors.NewForbidden(corev1.Resource(resource), "", fmt.Errorf(`User "reader" cannot patch resource %q in API group "" in the namespace "ns"`, resource))
	}
}

// TestDeniedSaysWhatRefused: a 403 is a right missing only when RBAC says
// so; a full quota (the dry-run create is one object more) and a webhook's
// denial are said as what they are.
func TestDeniedSaysWhatRefused(t *testing.T) {
	gr := corev1.Resource("services")
	for _, tt := range []struct {
		err  error
		want string
	}{
		{apierrors.NewForbidden(gr, "", errors.New(`User "dev" cannot create resource "services" in API group "" in the namespace "ns"`)), "it needs the right to create services (Forbidden)"},
		{apierrors.NewForbidden(gr, "", errors.New("exceeded quota: lb, requested: services.loadbalancers=1, used: services.loadbalancers=1, limited: services.loadbalancers=1")),
			"the namespace's ResourceQuota refuses the dry-run create of services: services is forbidden: exceeded quota: lb"},
		{apierrors.NewForbidden(gr, "", errors.New(`admission webhook "policy.example.com" denied the request: no LoadBalancer`)),
			`the dry-run create of services is refused: services is forbidden: admission webhook "policy.example.com" denied the request`},
		{apierrors.NewTimeoutError("slow", 1), "slow"},
	} {
		got := denied(tt.err, "create", "services")
		if !strings.Contains(got.Error(), tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("denied(%v) = %v, want %q (unwrapping to it)", tt.err, got, tt.want)
		}
	}
}

// storedBy answers a dry-run apply of the Service as the apiserver's would
// store it: kubectl zz's apply replaces the set a spoofed apply under its
// name left, so no externalIPs (the fake's dry run answers live as it is).
func storedBy(obj runtime.Object) (runtime.Object, error) {
	if svc, ok := obj.(*corev1.Service); ok {
		svc.Spec.ExternalIPs = nil
		return svc, nil
	}
	return nil, nil
}

// spoofApply is a server-side apply of externalIPs under kubectl zz's own
// field manager name: only a judgement by content sees it.
func spoofApply(t *testing.T, c *fake.Clientset) {
	t.Helper()
	svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "shop", "labels": svc.Labels, "annotations": svc.Annotations},
		"spec": map[string]any{"ports": svc.Spec.Ports, "selector": svc.Spec.Selector, "externalIPs": []string{"203.0.113.8"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services(ns).Patch(t.Context(), "shop", types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: contract.ManagedBy, Force: ptr.To(true)}); err != nil {
		t.Fatal(err)
	}
}

// orphanedExternalIPs is externalIPs written by a tenant whose next update
// sent the entries without that write's: owned by no entry.
func orphanedExternalIPs(t *testing.T, c *fake.Clientset) {
	t.Helper()
	updateService(t, c, "tenant", func(svc *corev1.Service) { svc.Spec.ExternalIPs = []string{"203.0.113.7"} })
	updateService(t, c, "tenant", func(svc *corev1.Service) { withoutEntriesOf("tenant")(svc) })
}

// TestStatusJudgesDriftByContent: status judges the parts kubectl zz
// renders whole as the next deploy does (DriftJudge), not by the field
// manager's name: a write under kubectl-zz's own name (an Update, or a
// server-side apply), and a field no entry owns, are drift, and named.
// Where the dry runs it needs are refused (a role that reads only), it
// judges by name and says so; never an error.
func TestStatusJudgesDriftByContent(t *testing.T) {
	externalIPs := func(manager string) func(*testing.T, *fake.Clientset) {
		return func(t *testing.T, c *fake.Clientset) {
			updateService(t, c, manager, func(svc *corev1.Service) { svc.Spec.ExternalIPs = []string{"203.0.113.7"} })
		}
	}
	tests := []struct {
		name  string
		react []reaction
		write func(*testing.T, *fake.Clientset)
		// want: substrings of the one drift line; none when in sync.
		want   []string
		byName string // in DriftByName; "" when judged by content
	}{
		{name: "clean"},
		{name: "externalIPs under kubectl-zz's name (an update)", write: externalIPs(contract.ManagedBy),
			want: []string{"service shop: its spec was changed under kubectl zz's field manager name (kubectl-zz, Update) at ", "spec.externalIPs, which revision 1 lacks"}},
		{name: "an env var under kubectl-zz's name", write: func(t *testing.T, c *fake.Clientset) {
			updateDeployment(t, c, contract.ManagedBy, func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "MITM", Value: "1"})
			})
		}, want: []string{"deployment shop: its pod template was changed under kubectl zz's field manager name (kubectl-zz, Update)", `spec.template.spec.containers[name="app"].env`}},
		{name: "a server-side apply under kubectl-zz's name", react: []reaction{onDryRun("patch", "services", storedBy)}, write: spoofApply,
			want: []string{"service shop: its spec was changed under kubectl zz's field manager name (kubectl-zz, Apply)", "spec.externalIPs, which kubectl zz's apply of revision 1 sets otherwise"}},
		{name: "the image by kubectl set", write: func(t *testing.T, c *fake.Clientset) {
			updateDeployment(t, c, "kubectl-set", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "reg/shop:hotfix" })
		}, want: []string{"deployment shop: its pod template was changed by kubectl-set at ", `spec.template.spec.containers[name="app"].image`}},
		{name: "externalIPs owned by no entry", react: []reaction{onDryRun("create", "*", func(o runtime.Object) (runtime.Object, error) { return withDefaults(o), nil })},
			write: orphanedExternalIPs, want: []string{"service shop: its spec was changed by a writer whose managed-fields entry is gone", "spec.externalIPs"}},
		{name: "dry runs refused, clean", react: []reaction{onDryRun("patch", "*", refused("services"))},
			byName: "needs the right to patch"},
		{name: "dry runs refused: by name", react: []reaction{onDryRun("patch", "*", refused("deployments"))}, write: func(t *testing.T, c *fake.Clientset) {
			updateDeployment(t, c, "kubectl-set", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "reg/shop:hotfix" })
		}, want: []string{"deployment shop: its pod template was changed by kubectl-set at ", "kubectl zz deploy or rollback applies a recorded revision again"}, byName: "needs the right to patch"},
		{name: "dry runs refused: a field other than kubectl zz's apply owns is judged all the same", react: []reaction{onDryRun("patch", "*", refused("services"))},
			write: externalIPs(contract.ManagedBy), want: []string{"(kubectl-zz, Update)", "spec.externalIPs"}, byName: "deployment shop: what kubectl zz's apply of revision 1 would store was not asked"},
		{name: "records unreadable (the view role): by name", react: []reaction{onEvery("list", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(corev1.Resource("secrets"), "", errors.New("view reads no secrets"))
		})}, write: externalIPs("kubectl-edit"), want: []string{"service shop: its spec was changed by kubectl-edit at "}, byName: "revision records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The row's reactions act after the deploy (which lists the
			// records and asks dry runs of its own).
			var on atomic.Bool
			var rs []reaction
			for _, r := range tt.react {
				rs = append(rs, armed(&on, r))
			}
			c, _ := startedApp(t, rs...)
			on.Store(true)
			if tt.write != nil {
				tt.write(t, c)
			}
			st, err := AppStatusOf(t.Context(), c, ns, "shop")
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case len(tt.want) == 0 && len(st.Drift) != 0:
				t.Errorf("drift %q; want none", st.Drift)
			case len(tt.want) > 0 && len(st.Drift) != 1:
				t.Errorf("drift %q; want one line with %q", st.Drift, tt.want)
			case len(tt.want) > 0:
				for _, w := range tt.want {
					if !strings.Contains(st.Drift[0], w) {
						t.Errorf("drift %q lacks %q", st.Drift[0], w)
					}
				}
			}
			if tt.byName == "" && st.DriftByName != "" || !strings.Contains(st.DriftByName, tt.byName) {
				t.Errorf("DriftByName %q; want %q", st.DriftByName, tt.byName)
			}
		})
	}
}

// TestStatusWatchJudgesOnlyChangedObjects: a judge kept between reads (as
// kubectl zz status --watch keeps one) asks no dry run for an object that
// did not change, nor for one whose status alone changed, and judges one
// whose spec changed again.
func TestStatusWatchJudgesOnlyChangedObjects(t *testing.T) {
	// The fake stores no resourceVersion: each update of a Service gets a
	// new one here, as the apiserver's.
	var rv atomic.Int64
	c, _ := startedApp(t, onEvery("update", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if u, ok := a.(clienttesting.UpdateActionImpl); ok {
			u.GetObject().(*corev1.Service).ResourceVersion = fmt.Sprint(rv.Add(1))
		}
		return false, nil, nil
	}))
	r := Live(c)
	dryRuns := func() (n map[string]int) {
		n = map[string]int{}
		for _, a := range c.Actions() {
			if p, ok := a.(clienttesting.PatchActionImpl); ok && len(p.PatchOptions.DryRun) > 0 {
				n[p.GetResource().Resource]++
			}
		}
		return n
	}
	read := func() []string {
		t.Helper()
		all, err := Statuses(t.Context(), c, r, ns, "shop")
		if err != nil || len(all) != 1 {
			t.Fatalf("status: %v, %d apps", err, len(all))
		}
		return all[0].Drift
	}
	before := dryRuns()
	read()
	first := dryRuns()
	if first["services"] != before["services"]+1 || first["deployments"] != before["deployments"]+1 {
		t.Fatalf("dry-run applies of the first read: %v, before %v; want one a kind", first, before)
	}
	read()
	if again := dryRuns(); again["services"] != first["services"] || again["deployments"] != first["deployments"] {
		t.Errorf("dry-run applies of a read with nothing changed: %v, after the first %v; want none", again, first)
	}
	// A status write (a LoadBalancer's ingress; an HPA's metrics, a
	// rollout's progress alike) moves the resourceVersion, not what the
	// judgement reads.
	lb, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lb.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.51.100.1"}}
	if lb, err = c.CoreV1().Services(ns).UpdateStatus(t.Context(), lb, metav1.UpdateOptions{}); err != nil || lb.ResourceVersion == "" {
		t.Fatalf("status write: %v, resourceVersion %q", err, lb.ResourceVersion)
	}
	read()
	if again := dryRuns(); again["services"] != first["services"] {
		t.Errorf("dry-run applies of the Service after a status-only write: %d; want none (its spec and managed fields are as judged)", again["services"]-first["services"])
	}
	svc := updateService(t, c, contract.ManagedBy, func(svc *corev1.Service) { svc.Spec.ExternalIPs = []string{"203.0.113.7"} })
	if svc.ResourceVersion == "" {
		t.Fatal("the fake stored no resourceVersion: the test cannot tell a change")
	}
	if d := read(); len(d) != 1 || !strings.Contains(d[0], "spec.externalIPs") {
		t.Errorf("drift after a write under kubectl-zz's name, with a judge kept: %q", d)
	}
}

// TestStatusCanaryOverCanaryIsNotSpoofed: a second deploy --canary while
// the first canary's revision is the latest one. Until it records, the
// canary Deployment carries the new command's token; status says it is an
// unrecorded canary, and must not judge it by content against the previous
// canary's record (its new image would read as a write "under kubectl zz's
// field manager name ... outside kubectl zz").
func TestStatusCanaryOverCanaryIsNotSpoofed(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if _, err := RunCanary(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")}, CanaryShare{Count: 1}); err != nil {
		t.Fatal(err)
	}
	ctl.mu.Lock()
	ctl.stuck["reg/shop:3"] = true
	ctl.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = RunCanary(ctx, c, &Config{Options: opts(), App: spec(t, "reg/shop:3", "")}, CanaryShare{Count: 1})
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := deployment(t, c, "shop-canary")
		if d.Spec.Template.Spec.Containers[0].Image == "reg/shop:3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second canary never applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range st.Drift {
		t.Logf("drift: %s", d)
		if strings.Contains(d, "outside kubectl zz: spec.template") {
			t.Errorf("a canary under way called a write outside kubectl zz: %s", d)
		}
	}
}

// TestStatusWatchRetriesTransientErrors: a judge kept between reads (status
// --watch) keeps no judgement by name made for an answer that may differ
// at the next read (a timeout of the record's get or of a dry run): the
// next read judges by content and names the spoof. A refusal (Forbidden)
// is kept: asked once.
func TestStatusWatchRetriesTransientErrors(t *testing.T) {
	timeout := apierrors.NewTimeoutError("the apiserver was slow", 1)
	forbidden := apierrors.NewForbidden(corev1.Resource("services"), "", errors.New("cannot patch"))
	tests := []struct {
		name  string
		react func(fail func() error) []reaction
		err   error
		write func(*testing.T, *fake.Clientset) // spoofApply when nil
		// spoofSeen: whether the second read names the spoof; asks: the
		// failing request's count over three reads.
		spoofSeen bool
		asks      int
	}{
		{name: "the record's get timed out", err: timeout, spoofSeen: true, asks: 2, react: func(fail func() error) []reaction {
			return []reaction{onDryRun("patch", "services", storedBy), onEvery("get", "secrets", func(clienttesting.Action) (bool, runtime.Object, error) {
				if err := fail(); err != nil {
					return true, nil, err
				}
				return false, nil, nil
			})}
		}},
		{name: "the dry-run apply timed out", err: timeout, spoofSeen: true, asks: 2, react: func(fail func() error) []reaction {
			return []reaction{onDryRun("patch", "services", func(o runtime.Object) (runtime.Object, error) {
				if err := fail(); err != nil {
					return nil, err
				}
				return storedBy(o)
			})}
		}},
		{name: "the dry-run create timed out (orphans)", err: timeout, spoofSeen: true, asks: 2, write: orphanedExternalIPs, react: func(fail func() error) []reaction {
			return []reaction{onDryRun("create", "services", func(o runtime.Object) (runtime.Object, error) {
				if err := fail(); err != nil {
					return nil, err
				}
				return withDefaults(o), nil
			})}
		}},
		{name: "the dry-run apply refused (Forbidden): kept", err: forbidden, asks: 1, react: func(fail func() error) []reaction {
			return []reaction{onDryRun("patch", "services", func(o runtime.Object) (runtime.Object, error) {
				if err := fail(); err != nil {
					return nil, err
				}
				return storedBy(o)
			})}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var on atomic.Bool
			var asked atomic.Int32
			fail := func() error {
				if asked.Add(1) == 1 {
					return tt.err
				}
				return nil
			}
			var rs []reaction
			for _, r := range tt.react(fail) {
				rs = append(rs, armed(&on, r))
			}
			c, _ := startedApp(t, rs...)
			on.Store(true)
			if tt.write == nil {
				tt.write = spoofApply
			}
			tt.write(t, c)
			r := Live(c) // one Reader, one judge: as status --watch keeps it
			for i := range 3 {
				all, err := Statuses(t.Context(), c, r, ns, "shop")
				if err != nil || len(all) != 1 {
					t.Fatalf("read %d: %v, %d apps", i, err, len(all))
				}
				seen := strings.Contains(strings.Join(all[0].Drift, "\n"), "spec.externalIPs")
				if i == 0 && (seen || all[0].DriftByName == "") {
					t.Errorf("read 0, its request failed: drift %q, by name %q; want by name, with why", all[0].Drift, all[0].DriftByName)
				}
				if i > 0 && seen != tt.spoofSeen {
					t.Errorf("read %d: drift %q (by name %q); want the spoof named: %v", i, all[0].Drift, all[0].DriftByName, tt.spoofSeen)
				}
			}
			if n := int(asked.Load()); n != tt.asks {
				t.Errorf("the failing request asked %d times over three reads; want %d", n, tt.asks)
			}
		})
	}
}

// TestUnchangedDeployAsksEachDryRunOnce: a deploy of the spec that runs
// judges each part kubectl zz renders whole by content once (wholeHeld),
// not also through status's DriftJudge.
func TestUnchangedDeployAsksEachDryRunOnce(t *testing.T) {
	c, app := startedApp(t)
	c.ClearActions()
	res, err := Run(t.Context(), c, &Config{Options: opts(), App: app})
	if err != nil || !res.Unchanged {
		t.Fatalf("the same deploy again: %+v, %v; want unchanged", res, err)
	}
	n := map[string]int{}
	for _, a := range c.Actions() {
		if p, ok := a.(clienttesting.PatchActionImpl); ok && len(p.PatchOptions.DryRun) > 0 {
			n[p.GetResource().Resource]++
		}
	}
	if n["deployments"] != 1 || n["services"] != 1 {
		t.Errorf("dry-run applies of an unchanged deploy: %v; want one a kind", n)
	}
}

// TestStatusAfterUnchangedAsksNoDryRunAgain: kubectl zz deploy -o (and
// rollback -o) of what runs reads the app back with status's DriftJudge
// after the command's own unchanged check; with the command's verdicts
// kept in that judge (Options.Judge, AppStatusWith), each object's dry
// runs are asked once in all, and the record is not read again. Without
// them (a judge of its own, as before) status asked them all again.
func TestStatusAfterUnchangedAsksNoDryRunAgain(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  func(ctx context.Context, c *fake.Clientset, app *appspec.App, o Options) (*Result, error)
		// shared: the command's judge is the one status reads with.
		shared bool
		want   int // dry-run applies of each kind asked (creates: at most)
	}{
		{name: "deploy of the same spec", shared: true, want: 1, run: func(ctx context.Context, c *fake.Clientset, app *appspec.App, o Options) (*Result, error) {
			return Run(ctx, c, &Config{Options: o, App: app})
		}},
		{name: "rollback to the revision that runs", shared: true, want: 1, run: func(ctx context.Context, c *fake.Clientset, app *appspec.App, o Options) (*Result, error) {
			return Rollback(ctx, c, &RollbackConfig{Options: o, App: app.Name, ToRevision: 1})
		}},
		{name: "deploy, then status with a judge of its own", shared: false, want: 2, run: func(ctx context.Context, c *fake.Clientset, app *appspec.App, o Options) (*Result, error) {
			return Run(ctx, c, &Config{Options: o, App: app})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, app := startedApp(t)
			c.ClearActions()
			o := opts()
			o.Judge = NewDriftJudge()
			res, err := tt.run(t.Context(), c, app, o)
			if err != nil || !res.Unchanged {
				t.Fatalf("%s: %+v, %v; want unchanged", tt.name, res, err)
			}
			before := len(c.Actions())
			j := o.Judge
			if !tt.shared {
				j = nil
			}
			st, err := AppStatusWith(t.Context(), c, j, ns, app.Name)
			if err != nil || len(st.Drift) != 0 || st.DriftByName != "" {
				t.Fatalf("status after it: %+v, %v; want no drift, judged by content", st, err)
			}
			n := map[string]int{}
			for i, a := range c.Actions() {
				switch a := a.(type) {
				case clienttesting.GetActionImpl:
					if i >= before && a.GetResource().Resource == "secrets" {
						n["status's get of the record"]++
					}
				case clienttesting.PatchActionImpl:
					if len(a.PatchOptions.DryRun) > 0 {
						n["apply "+a.GetResource().Resource]++
					}
				case clienttesting.CreateActionImpl:
					if len(a.CreateOptions.DryRun) > 0 {
						n["create "+a.GetResource().Resource]++
					}
				}
			}
			if tt.shared && n["status's get of the record"] != 0 {
				t.Errorf("status read the record again after the command judged against it: %v", n)
			}
			if n["apply deployments"] == 0 || n["apply services"] == 0 {
				t.Fatalf("dry runs %v: the unchanged check asked none", n)
			}
			for req, got := range n {
				if exact := strings.HasPrefix(req, "apply "); got > tt.want || exact && got != tt.want {
					t.Errorf("dry-run %s asked %d times by the command and status after it, want %d (all: %v)", req, got, tt.want, n)
				}
			}
		})
	}
}

// TestStatusWatchForgetsWhatItNoLongerSees: a judge kept between reads
// (status --watch) drops the judgement of an object deleted and the
// record that is no longer the latest, so a long watch does not grow.
func TestStatusWatchForgetsWhatItNoLongerSees(t *testing.T) {
	c, _ := startedApp(t)
	r := Live(c)
	read := func() {
		t.Helper()
		if _, err := Statuses(t.Context(), c, r, ns, "shop"); err != nil {
			t.Fatal(err)
		}
	}
	read()
	j := r.Judge()
	if len(j.objects) != 2 || len(j.records) != 1 {
		t.Fatalf("kept after the first read: %d objects, %d records; want 2 and 1", len(j.objects), len(j.records))
	}
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	if err := c.CoreV1().Services(ns).Delete(t.Context(), "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	read()
	var objects, records []string
	for k := range j.objects {
		objects = append(objects, k)
	}
	for k := range j.records {
		records = append(records, k)
	}
	if len(objects) != 1 || !strings.Contains(objects[0], "Deployment/shop") || len(records) != 1 || !strings.HasSuffix(records[0], ".r2") {
		t.Errorf("kept after the Service's delete and revision 2: objects %q, records %q; want the Deployment's and revision 2's", objects, records)
	}
}
