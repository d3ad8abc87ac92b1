package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
	"github.com/zzcloud/zz/internal/syncbuf"
)

const ns = "team-a"

func spec(t *testing.T, image string, extra string) *appspec.App {
	t.Helper()
	data := "name: shop\nspec:\n  type: web\n  image: " + image + "\n  replicas: 2\n" + extra
	app, err := appspec.Load("zz.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// controller plays kube-controller-manager on the fake clientset: it marks
// every Deployment rolled out unless its image is in stuck.
type controller struct {
	mu    sync.Mutex
	stuck map[string]bool
	// refused: images whose pods admission refuses, with the message.
	refused map[string]string
	// soaking: images whose pods are all ready, none yet available
	// (minReadySeconds).
	soaking map[string]bool
}

func startController(t *testing.T, c *fake.Clientset) *controller {
	ctl := &controller{stuck: map[string]bool{}, refused: map[string]string{}, soaking: map[string]bool{}}
	// The test's own reactors, set before: they answer dry runs too.
	prior := slices.Clone(c.ReactionChain[:len(c.ReactionChain)-1])
	// Each Lease its own UID, as the apiserver gives one: the lock tells
	// its own from a later holder's by it.
	var uids atomic.Int64
	c.PrependReactor("create", "leases", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if l := a.(clienttesting.CreateAction).GetObject().(*coordinationv1.Lease); l.UID == "" {
			l.UID = types.UID(fmt.Sprint("lease-", uids.Add(1)))
		}
		return false, nil, nil
	})
	// An update of a Lease read before it was deleted and made anew is a
	// conflict, as the apiserver answers it (the fake would overwrite the
	// new holder's).
	c.PrependReactor("update", "leases", func(a clienttesting.Action) (bool, runtime.Object, error) {
		l := a.(clienttesting.UpdateAction).GetObject().(*coordinationv1.Lease)
		cur, err := c.Tracker().Get(coordinationv1.SchemeGroupVersion.WithResource("leases"), l.Namespace, l.Name)
		if err == nil && cur.(*coordinationv1.Lease).UID != l.UID {
			return true, nil, apierrors.NewConflict(coordinationv1.Resource("leases"), l.Name, errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	// The apiserver bumps a Deployment's generation on every spec change, so
	// a rollout is not complete until the controller observed it; the fake
	// tracker does not, so every apply bumps it here.
	c.PrependReactor("patch", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "" {
			return false, nil, nil // the controller's status, below
		}
		handled, obj, err := clienttesting.ObjectReaction(c.Tracker())(a)
		if err != nil || !handled {
			return handled, obj, err
		}
		d := obj.(*appsv1.Deployment).DeepCopy()
		d.Generation++
		if err := c.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, d.Namespace); err != nil {
			return true, nil, err
		}
		return true, d, nil
	})
	// A server-side dry run stores nothing, as the apiserver's: the fake
	// would apply it. It answers with the live object (or the one sent,
	// for a create): what the dry runs here read is whether they fail.
	c.PrependReactor("patch", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p, ok := a.(clienttesting.PatchActionImpl)
		if !ok || len(p.PatchOptions.DryRun) == 0 {
			return false, nil, nil
		}
		for _, r := range prior {
			if r.Handles(a) {
				if handled, obj, err := r.React(a); handled {
					return handled, obj, err
				}
			}
		}
		if live, err := c.Tracker().Get(p.GetResource(), p.GetNamespace(), p.GetName()); err == nil {
			// A Deployment's pod template is the one applied, as the
			// apiserver's merge would store it (rollback compares it).
			if d, ok := live.(*appsv1.Deployment); ok {
				var sent appsv1.Deployment
				if json.Unmarshal(p.GetPatch(), &sent) == nil && sent.Spec.Template.Spec.Containers != nil {
					d = d.DeepCopy()
					d.Spec.Template = sent.Spec.Template
					return true, d, nil
				}
			}
			return true, live, nil
		}
		var u unstructured.Unstructured
		if err := json.Unmarshal(p.GetPatch(), &u.Object); err != nil {
			return true, nil, apierrors.NewBadRequest(err.Error())
		}
		obj, err := scheme.Scheme.New(u.GroupVersionKind())
		if err != nil {
			return true, nil, err
		}
		return true, obj, json.Unmarshal(p.GetPatch(), obj)
	})
	// A dry-run update or create stores nothing either (the fake's tracker
	// ignores DryRun): it answers with the object sent, or what a test's
	// own reactor makes of it (the apiserver's defaults).
	dryRun := func(a clienttesting.Action) (bool, runtime.Object, error) {
		obj := sentDryRun(a)
		if obj == nil {
			return false, nil, nil
		}
		for _, r := range prior {
			if r.Handles(a) {
				if handled, obj, err := r.React(a); handled {
					return handled, obj, err
				}
			}
		}
		return true, obj.DeepCopyObject(), nil
	}
	c.PrependReactor("update", "*", dryRun)
	c.PrependReactor("create", "*", dryRun)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			ctl.sync(ctx, c)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return ctl
}

// setRefused makes admission refuse the pods of image with message, as
// the Deployment controller reports it (ReplicaFailure, FailedCreate).
func (ctl *controller) setRefused(image, message string) {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	ctl.refused[image] = message
}

// setSoaking has the pods of image ready, not yet available (on: a
// minReadySeconds that has not passed), or available (off).
func (ctl *controller) setSoaking(image string, on bool) {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	ctl.soaking[image] = on
}

func (ctl *controller) setStuck(image string) {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	ctl.stuck[image] = true
}

func (ctl *controller) sync(ctx context.Context, c kubernetes.Interface) {
	list, err := c.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range list.Items {
		d := &list.Items[i]
		ctl.mu.Lock()
		stuck := ctl.stuck[d.Spec.Template.Spec.Containers[0].Image]
		refused, isRefused := ctl.refused[d.Spec.Template.Spec.Containers[0].Image]
		soaking := ctl.soaking[d.Spec.Template.Spec.Containers[0].Image]
		ctl.mu.Unlock()
		want := int32(1) // the apiserver's default
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: want, UpdatedReplicas: want, ReadyReplicas: want, AvailableReplicas: want}
		if stuck {
			s = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: want + 1, UpdatedReplicas: 1, ReadyReplicas: want, AvailableReplicas: want}
		}
		if soaking {
			s.AvailableReplicas = 0
		}
		if isRefused {
			s = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: want, ReadyReplicas: want, AvailableReplicas: want,
				Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: refused}}}
		}
		if equality.Semantic.DeepEqual(d.Status, s) {
			continue
		}
		// A merge patch of the status alone: the fake tracker's UpdateStatus
		// stores the whole object, so a copy listed before a command's apply
		// would put the old spec back (an apiserver keeps spec and status
		// apart).
		status := map[string]any{}
		if b, err := json.Marshal(s); err != nil || json.Unmarshal(b, &status) != nil {
			panic(err)
		}
		// Zero counts are left out of the JSON, and a merge patch would
		// keep the old ones: a refused rollout has updated none.
		status["updatedReplicas"] = s.UpdatedReplicas
		status["availableReplicas"] = s.AvailableReplicas
		if len(s.Conditions) == 0 {
			status["conditions"] = nil
		}
		body, err := json.Marshal(map[string]any{"status": status})
		if err != nil {
			panic(err)
		}
		_, _ = c.AppsV1().Deployments(ns).Patch(ctx, d.Name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	}
}

func opts() Options {
	return Options{Namespace: ns, User: "alice", Timeout: 2 * time.Second, PollInterval: 5 * time.Millisecond,
		Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }}
}

// waitFor polls cond until it holds, failing the test after 10 s with
// what it waited for (an unbounded poll hung a regression for go test's
// 10 minutes).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func deployOK(t *testing.T, c kubernetes.Interface, app *appspec.App, limit int) int64 {
	t.Helper()
	o := opts()
	o.HistoryLimit = limit
	res, err := Run(t.Context(), c, &Config{Options: o, App: app})
	if err != nil {
		t.Fatalf("deploy %s: %v", app.Spec.Image, err)
	}
	return res.Revision
}

func image(t *testing.T, c kubernetes.Interface) string {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

func TestDeployRedeployRollback(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()

	v1 := spec(t, "reg/shop:1", "  env: {MODE: one}\n  configFiles: {app.conf: one}\n  pdb: true\n")
	cmOne := render.ConfigMapName("shop", v1.Spec.ConfigFiles)
	if rev := deployOK(t, c, v1, 0); rev != 1 {
		t.Fatalf("first deploy recorded revision %d, want 1", rev)
	}
	// v2 drops the config files and the PDB: both must be deleted.
	if rev := deployOK(t, c, spec(t, "reg/shop:2", ""), 0); rev != 2 {
		t.Fatalf("second deploy recorded revision %d, want 2", rev)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Get(ctx, cmOne, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("ConfigMap of revision 1 still there after revision 2: %v", err)
	}
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "shop", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("PDB of revision 1 still there after revision 2: %v", err)
	}

	hist, err := History(ctx, c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Version != "1" || hist[1].Image != "reg/shop:2" || hist[0].User != "alice" ||
		!strings.HasPrefix(hist[1].ChangeCause, "deploy 2 (") || !hist[0].Time.Equal(opts().Now()) {
		t.Fatalf("history = %+v %+v", hist[0], hist[len(hist)-1])
	}
	if got := strings.Join(hist[0].Kinds, " "); got != "ConfigMap/"+cmOne+" Service/shop Deployment/shop PodDisruptionBudget/shop" {
		t.Fatalf("revision 1 objects = %s", got)
	}

	res, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision != 3 {
		t.Fatalf("rollback recorded revision %d, want 3", res.Revision)
	}
	if img := image(t, c); img != "reg/shop:1" {
		t.Fatalf("image after rollback = %s", img)
	}
	cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, cmOne, metav1.GetOptions{})
	if err != nil || cm.Data["app.conf"] != "one" || cm.Labels[contract.LabelRevision] != "3" {
		t.Fatalf("ConfigMap after rollback = %v, %v", cm, err)
	}
	d, _ := c.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})
	if env := d.Spec.Template.Spec.Containers[0].Env; len(env) != 1 || env[0].Value != "one" {
		t.Fatalf("env after rollback = %v", env)
	}
	hist, _ = History(ctx, c, ns, "shop")
	if last := hist[len(hist)-1]; last.Number != 3 || last.ChangeCause != "rollback to revision 1" || last.Image != "reg/shop:1" {
		t.Fatalf("revision 3 = %+v", last)
	}
}

// TestRollbackAfterAFailedDeploy: a deploy that failed leaves its template
// applied and unrecorded; its error says how to return, and a rollback
// with no revision returns to the latest revision, the one that ran before
// it, where it skipped to the one before that (an app-developer audit).
func TestRollbackAfterAFailedDeploy(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	ctl.setStuck("reg/shop:bad")
	_, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:bad", "")})
	if !errors.Is(err, ErrRolloutFailed) || !strings.Contains(err.Error(), "fix it and deploy again, or kubectl zz rollback shop to return to revision 2") {
		t.Fatalf("failed deploy: %v", err)
	}
	var progress bytes.Buffer
	o := opts()
	o.Progress = &progress
	res, err := Rollback(t.Context(), c, &RollbackConfig{Options: o, App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	hist, _ := History(t.Context(), c, ns, "shop")
	if last := hist[len(hist)-1]; res.Revision != 3 || last.ChangeCause != "rollback to revision 2" || image(t, c) != "reg/shop:2" {
		t.Errorf("rollback recorded %+v, runs %s; want revision 2's image again", last, image(t, c))
	}
	if !strings.Contains(progress.String(), "rolling back to the latest revision, 2") {
		t.Errorf("rollback did not say why it picked the latest revision:\n%s", progress.String())
	}
	// What runs is recorded now: the next rollback goes one back, as
	// before, to revision 2, which runs already.
	if res, err := Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop"}); err != nil || !res.Unchanged || res.Revision != 3 {
		t.Errorf("second rollback: %+v, %v; want revision 2's spec, which runs (unchanged)", res, err)
	}
}

// TestRollbackPastAForgedToken: a token no record holds, written on a
// Deployment that runs the latest revision's template, is no failed
// deploy: rollback goes one back, as always (a tenant audit redirected
// the owner's rollback with one annotation).
func TestRollbackPastAForgedToken(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	d := deployment(t, c, "shop")
	d.Annotations[contract.AnnotationApplyID] = "forged"
	if _, err := c.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop"}); err != nil || image(t, c) != "reg/shop:1" {
		t.Errorf("rollback past a forged token: %v, runs %s; want revision 1's image", err, image(t, c))
	}
}

func TestHistoryLimit(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	for _, img := range []string{"reg/shop:1", "reg/shop:2", "reg/shop:3", "reg/shop:4"} {
		deployOK(t, c, spec(t, img, ""), 2)
	}
	hist, err := History(t.Context(), c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Number != 3 || hist[1].Number != 4 {
		t.Fatalf("history after 4 deploys with limit 2: %d revisions from %d", len(hist), hist[0].Number)
	}
	_, err = Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 1})
	if !errors.Is(err, ErrNoRevision) || !strings.Contains(err.Error(), "recorded: 3 to 4") {
		t.Fatalf("rollback to a trimmed revision: %v", err)
	}
}

func unschedulablePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-new-1", Namespace: ns, Labels: map[string]string{contract.LabelApp: "shop"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/8 nodes are available: 8 node(s) didn't match Pod's node affinity/selector.",
		}}},
	}
}

func TestFailedDeployRollsBack(t *testing.T) {
	for _, rollback := range []bool{false, true} {
		t.Run(map[bool]string{false: "fail", true: "rollback-on-failure"}[rollback], func(t *testing.T) {
			c := fake.NewClientset()
			ctl := startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			ctl.setStuck("reg/shop:bad")
			if _, err := c.CoreV1().Pods(ns).Create(t.Context(), unschedulablePod(), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			var progress strings.Builder
			o := opts()
			o.Timeout = 300 * time.Millisecond
			o.Progress = &progress
			res, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", ""), RollbackOnFailure: rollback})
			if !errors.Is(err, ErrRolloutFailed) {
				t.Fatalf("err = %v, want ErrRolloutFailed", err)
			}
			for _, want := range []string{"not ready after 300ms", "pod shop-new-1: Unschedulable: 0/8 nodes are available"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if !strings.Contains(progress.String(), "shop: 2/2 ready, 1/2 updated, 3 total") {
				t.Errorf("progress output lacks the counts:\n%s", progress.String())
			}
			hist, _ := History(t.Context(), c, ns, "shop")
			if len(hist) != 1 {
				t.Errorf("a failed deploy was recorded: %d revisions", len(hist))
			}
			wantImage := "reg/shop:bad"
			if rollback {
				wantImage = "reg/shop:1"
				if res.RolledBackTo != 1 || !strings.Contains(err.Error(), "rolled back to revision 1") {
					t.Errorf("result %+v, err %v: want a rollback to revision 1", res, err)
				}
			}
			if img := image(t, c); img != wantImage {
				t.Errorf("image after the failed deploy = %s, want %s", img, wantImage)
			}
		})
	}
}

// TestInterruptedDeploy: a deploy stopped while it waits (Ctrl-C, SIGTERM:
// its context cancelled) restores the last revision with
// --rollback-on-failure, as a timeout does; without it, it says what was
// left and how to go on. Nothing is recorded either way.
func TestInterruptedDeploy(t *testing.T) {
	for _, rollback := range []bool{false, true} {
		t.Run(map[bool]string{false: "left", true: "rollback-on-failure"}[rollback], func(t *testing.T) {
			c := fake.NewClientset()
			ctl := startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			ctl.setStuck("reg/shop:bad")
			var progress syncbuf.Buffer
			o := opts()
			o.Progress = &progress
			ctx, cancel := context.WithCancel(t.Context())
			go func() {
				// Bounded: past it, Run's own timeout ends the test on
				// the wrong error, which says so.
				for deadline := time.Now().Add(10 * time.Second); !strings.Contains(progress.String(), "1/2 updated") && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
			}()
			res, err := Run(ctx, c, &Config{Options: o, App: spec(t, "reg/shop:bad", ""), RollbackOnFailure: rollback})
			if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "interrupted while waiting for "+ns+"/shop") {
				t.Fatalf("err = %v, want ErrInterrupted", err)
			}
			wantImage := "reg/shop:bad"
			if rollback {
				wantImage = "reg/shop:1"
				if res.RolledBackTo != 1 || !strings.Contains(err.Error(), "rolled back to revision 1") ||
					!strings.Contains(progress.String(), "interrupted: interrupt again to stop now") {
					t.Errorf("result %+v, err %v, progress:\n%s\nwant a rollback to revision 1", res, err, progress.String())
				}
			} else if !strings.Contains(err.Error(), "what was applied stays, and no revision records it (kubectl zz status shop): run the command again to finish, or kubectl zz rollback shop to return to revision 1") {
				t.Errorf("err %v lacks what was left", err)
			}
			if img := image(t, c); img != wantImage {
				t.Errorf("image after the interrupted deploy = %s, want %s", img, wantImage)
			}
			if hist, _ := History(t.Context(), c, ns, "shop"); len(hist) != 1 {
				t.Errorf("an interrupted deploy was recorded: %d revisions", len(hist))
			}
		})
	}
}

// TestInterruptedAsItCompletes: an interrupt that lands as the rollout
// completes (here: it cuts the read that would have seen it) does not undo
// the deploy or leave it unrecorded: a last look finds it complete and the
// revision is recorded, as if the signal had come a moment later.
func TestInterruptedAsItCompletes(t *testing.T) {
	c := fake.NewClientset()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Armed once the first deploy is done; before the controller starts:
	// the fake's reactor chain is not safe to change in use.
	var mu sync.Mutex
	armed := false
	c.PrependReactor("get", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if !armed {
			return false, nil, nil
		}
		obj, err := c.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), a.GetNamespace(), a.(clienttesting.GetAction).GetName())
		if d, ok := obj.(*appsv1.Deployment); err == nil && ok && d.Spec.Template.Spec.Containers[0].Image == "reg/shop:2" && RolloutStatus(d).Complete {
			armed = false
			cancel()
			return true, nil, context.Canceled
		}
		return false, nil, nil
	})
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	mu.Lock()
	armed = true
	mu.Unlock()
	res, err := Run(ctx, c, &Config{Options: opts(), App: spec(t, "reg/shop:2", ""), RollbackOnFailure: true})
	if err != nil || res.Revision != 2 || res.RolledBackTo != 0 {
		t.Fatalf("Run interrupted as the rollout completed: %+v, %v; want revision 2 recorded", res, err)
	}
	if ctx.Err() == nil {
		t.Fatal("the interrupt never came: the test proves nothing")
	}
	if img := image(t, c); img != "reg/shop:2" {
		t.Errorf("image %s, want reg/shop:2 kept", img)
	}
	if hist, err := History(t.Context(), c, ns, "shop"); err != nil || len(hist) != 2 {
		t.Errorf("history %v, %v: want revision 2 recorded", hist, err)
	}
}

// TestNoWait: --wait=false applies and records the revision at once, as
// kubectl apply does, even for pods that will never be ready; a later
// deploy still waits.
func TestNoWait(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	ctl.setStuck("reg/shop:bad")
	o := opts()
	o.Timeout = time.Hour // never reached: nothing waits
	o.NoWait = true
	start := time.Now()
	res, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", "")})
	if err != nil || res.Revision != 2 {
		t.Fatalf("Run with NoWait: %+v, %v; want revision 2 recorded", res, err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("NoWait waited %v", waited)
	}
	if img := image(t, c); img != "reg/shop:bad" {
		t.Errorf("image %s, want reg/shop:bad applied", img)
	}
	hist, err := History(t.Context(), c, ns, "shop")
	if err != nil || len(hist) != 2 || hist[1].Image != "reg/shop:bad" {
		t.Fatalf("history %v, %v: want revision 2 of reg/shop:bad recorded", hist, err)
	}
	// The same again mid-rollout (a pipeline re-run): nothing applied or
	// recorded, where a deploy that waits would follow the rollout.
	if res, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", "")}); err != nil || !res.Unchanged || res.Revision != 2 {
		t.Fatalf("the same deploy again with NoWait: %+v, %v; want unchanged revision 2", res, err)
	}
	// The same spec deployed waiting follows revision 2's rollout: what
	// fails is revision 2, so the way back is revision 1, as a rollback
	// goes (an audit saw "no revision records it ... return to revision
	// 2", and --rollback-on-failure re-apply revision 2 itself).
	o.NoWait, o.Timeout = false, 300*time.Millisecond
	_, err = Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", "")})
	if want := "revision 2 records this spec (applied before, without waiting) and is what runs, not ready: fix it and deploy again, or kubectl zz rollback shop to return to revision 1 (1)"; !errors.Is(err, ErrRolloutFailed) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "no revision records it") {
		t.Errorf("a deploy that waits on revision 2: err = %v, want %q", err, want)
	}
	rb := &RollbackConfig{Options: o, App: "shop"}
	if _, target, err := rollbackTarget(t.Context(), c, rb); err != nil || target.Number != 1 {
		t.Errorf("rollback's target after it: %v, %v; want revision 1, as the error says", target, err)
	}
	res, err = Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", ""), RollbackOnFailure: true})
	if !errors.Is(err, ErrRolloutFailed) || res.RolledBackTo != 1 || !strings.Contains(err.Error(), "rolled back to revision 1 (1)") {
		t.Errorf("with RollbackOnFailure: %+v, %v; want revision 1 restored", res, err)
	}
	if img := image(t, c); img != "reg/shop:1" {
		t.Errorf("image %s after the rollback on failure, want reg/shop:1", img)
	}
	ctl.setStuck("reg/shop:bad2")
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad2", "")}); !errors.Is(err, ErrRolloutFailed) {
		t.Errorf("a deploy that waits: err = %v, want ErrRolloutFailed", err)
	}
}

// TestWebhookRefusalFailsAtOnce: pods the zz webhook refuses end the wait
// at the first report, long before --timeout, with the refusal; a refusal
// by anything else (a quota, which may free up) is waited on.
func TestWebhookRefusalFailsAtOnce(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	zz := `pods "shop-new-1" is forbidden: admission webhook "pods.zz.io" denied the request: ` + contract.WebhookRefusalPrefix + `zz.io/gpu-mem asks for 102400 MiB per card but the largest card of this cluster has 81920 MiB; ask for at most 80Gi`
	ctl.setRefused("reg/shop:huge", zz)
	ctl.setRefused("reg/shop:quota", `pods "shop-new-1" is forbidden: exceeded quota: gpu`)
	o := opts()
	o.Timeout = time.Minute
	start := time.Now()
	_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:huge", "")})
	if !errors.Is(err, ErrRolloutFailed) || !strings.Contains(err.Error(), "refused at admission: FailedCreate: "+zz) {
		t.Fatalf("err = %v, want the webhook's refusal", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("waited %v for a refusal no retry can change", waited)
	}
	if hist, _ := History(t.Context(), c, ns, "shop"); len(hist) != 1 {
		t.Errorf("a refused deploy was recorded: %d revisions", len(hist))
	}
	o.Timeout = 300 * time.Millisecond
	_, err = Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:quota", "")})
	if err == nil || !strings.Contains(err.Error(), "not ready after 300ms: FailedCreate") {
		t.Errorf("a quota refusal: err = %v, want the wait to run out", err)
	}
}

func TestFailedRollbackKeepsRunningVersion(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:gone", ""), 0)
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	ctl.setStuck("reg/shop:gone") // its image no longer pulls
	o := opts()
	o.Timeout = 200 * time.Millisecond
	_, err := Rollback(t.Context(), c, &RollbackConfig{Options: o, App: "shop", ToRevision: 1})
	if !errors.Is(err, ErrRolloutFailed) || !strings.Contains(err.Error(), "rolled back to revision 2") {
		t.Fatalf("err = %v", err)
	}
	if img := image(t, c); img != "reg/shop:2" {
		t.Fatalf("running image after failed rollback = %s, want reg/shop:2", img)
	}
	if hist, _ := History(t.Context(), c, ns, "shop"); len(hist) != 2 {
		t.Fatalf("failed rollback was recorded: %d revisions", len(hist))
	}
}

func TestRollbackNeedsHistory(t *testing.T) {
	c := fake.NewClientset()
	_, err := Rollback(t.Context(), c, &RollbackConfig{Options: opts(), App: "shop"})
	// The namespace is said, as history, scale and restart say it: a wrong
	// -n is the usual cause (an app-developer audit).
	if !errors.Is(err, ErrNoRevision) || !strings.Contains(err.Error(), "shop has no recorded revisions in namespace "+ns+"; deploy it first") {
		t.Fatalf("err = %v", err)
	}
}

// TestWaitSurvivesTransientErrors: a failed read (network, client throttling)
// does not end the wait; the next poll decides.
func TestWaitSurvivesTransientErrors(t *testing.T) {
	c := fake.NewClientset()
	var mu sync.Mutex
	failures := 3
	c.PrependReactor("get", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		// Reads of the wait fail, not the one before the apply.
		_, err := c.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), ns, "shop")
		if failures > 0 && err == nil {
			failures--
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	startController(t, c) // after the reactor: the fake's reactor chain is not safe to change while in use
	if rev := deployOK(t, c, spec(t, "reg/shop:1", ""), 0); rev != 1 {
		t.Fatalf("revision %d", rev)
	}
	mu.Lock()
	defer mu.Unlock()
	if failures != 0 {
		t.Fatalf("the wait never read the deployment through the failures (%d left)", failures)
	}
}

// TestTimeoutHidesReadsCutByItsDeadline: a wait that times out names a
// failed read only when the failure says something about the cluster, not
// when its own deadline cut it (client-go's rate limiter refusing to wait
// past it reads as an error too); a connection refused is named.
func TestTimeoutHidesReadsCutByItsDeadline(t *testing.T) {
	for _, tt := range []struct {
		name, readErr string
		named         bool
	}{
		{"rate limiter", "client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline", false},
		{"connection refused", "dial tcp 127.0.0.1:6443: connect: connection refused", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			// Armed once the first deploy is done; before the controller
			// starts: the fake's reactor chain is not safe to change in use.
			var mu sync.Mutex
			armed, reads := false, 0
			c.PrependReactor("get", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				if armed {
					if reads++; reads > 3 {
						return true, nil, errors.New(tt.readErr)
					}
				}
				return false, nil, nil
			})
			ctl := startController(t, c)
			deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
			ctl.setStuck("reg/shop:bad")
			mu.Lock()
			armed = true
			mu.Unlock()
			o := opts()
			o.Timeout = 300 * time.Millisecond
			_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", "")})
			if !errors.Is(err, ErrRolloutFailed) || strings.Contains(err.Error(), "last read failed") != tt.named {
				t.Fatalf("err = %v; want a failed read named: %t", err, tt.named)
			}
		})
	}
	if !cutByDeadline(t.Context(), fmt.Errorf("get: %w", context.DeadlineExceeded)) {
		t.Error("a wrapped context.DeadlineExceeded is not the deadline's")
	}
}

// TestTimeoutInOutageNamesLastSeenPods: a deadline that falls in an
// apiserver outage keeps the cause the wait last saw (the pod's
// ImagePullBackOff, with its time), not only the read errors (an incident
// audit: the final error read as an infrastructure failure).
func TestTimeoutInOutageNamesLastSeenPods(t *testing.T) {
	c := fake.NewClientset()
	var mu sync.Mutex
	armed, podReads := false, 0
	down := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return armed && podReads > 2
	}
	c.PrependReactor("get", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		if down() {
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		}
		return false, nil, nil
	})
	c.PrependReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		if down() {
			return true, nil, errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		}
		mu.Lock()
		defer mu.Unlock()
		if armed {
			podReads++
		}
		return false, nil, nil
	})
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	ctl.setStuck("reg/shop:bad")
	pulling := pod(waiting("ImagePullBackOff", `Back-off pulling image "reg/shop:bad"`), "n1")
	if _, err := c.CoreV1().Pods(ns).Create(t.Context(), pulling, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	armed = true
	mu.Unlock()
	o := opts()
	o.Timeout = 400 * time.Millisecond
	_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", "")})
	if !errors.Is(err, ErrRolloutFailed) {
		t.Fatalf("err = %v", err)
	}
	want := regexp.MustCompile(`not ready after 400ms: pod p: ImagePullBackOff: Back-off pulling image "reg/shop:bad" \(as last seen at \d\d:\d\d:\d\d; the apiserver did not answer at the deadline: .*connection refused\)`)
	if !want.MatchString(err.Error()) {
		t.Fatalf("the failure lost the pods' last seen cause:\n%v", err)
	}
	// The outage said once: the waiter's own failed read is the same.
	if strings.Contains(err.Error(), "last read failed") {
		t.Errorf("the failure says the outage twice:\n%v", err)
	}
}

// TestQuotaFullSaidOnProgressAndError: a surge rollout stuck on a quota
// full at the app's pods says so on the progress line and in the error.
func TestQuotaFullSaidOnProgressAndError(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	ctl.setRefused("reg/shop:2", `pods "shop-6c9f7d-x2x4z" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1`)
	o := opts()
	o.Timeout = 300 * time.Millisecond
	progress := &bytes.Buffer{}
	o.Progress = progress
	_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", "")})
	const hint = "the quota q is full (pods) at the app's current pods: the rollout's extra pod (surge) cannot be created"
	if !errors.Is(err, ErrRolloutFailed) || !strings.Contains(err.Error(), hint) || !strings.Contains(err.Error(), "raise quota q by one pod's requests, or use spec.rollout: replace") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(progress.String(), hint) {
		t.Fatalf("progress lacks the hint:\n%s", progress)
	}
}

// TestWaitWarnsOfUnbalancedPods: pods the webhook left to the default
// scheduler (zz.io/scheduler-fallback) are named once the rollout is done;
// one routed normally, one terminating and another app's are not.
func TestWaitWarnsOfUnbalancedPods(t *testing.T) {
	mk := func(name, app, scheduler string, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{contract.LabelApp: app},
			Annotations: map[string]string{contract.AnnotationSchedulerFallback: contract.SchedulerName}},
			Spec: corev1.PodSpec{SchedulerName: scheduler}}
		if deleting {
			p.DeletionTimestamp = ptr.To(metav1.Now())
			p.Finalizers = []string{"x"}
		}
		return p
	}
	// A value that is no scheduler's name (a forged sentence, terminal
	// escapes) is not read.
	forged := mk("shop-e", "shop", corev1.DefaultSchedulerName, false)
	forged.Annotations[contract.AnnotationSchedulerFallback] = "\x1b[2J all healthy"
	c := fake.NewClientset(forged, mk("shop-b", "shop", corev1.DefaultSchedulerName, false), mk("shop-a", "shop", corev1.DefaultSchedulerName, false),
		mk("shop-c", "shop", contract.SchedulerName, false), mk("shop-d", "shop", corev1.DefaultSchedulerName, true),
		mk("cart-a", "cart", corev1.DefaultSchedulerName, false))
	startController(t, c)
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:1", "")}); err != nil {
		t.Fatal(err)
	}
	want := "Warning: 2 pods of shop run unbalanced (shop-a, shop-b): zz-scheduler could not schedule when they were created, so the zz webhook left them to default-scheduler; kubectl zz restart shop replaces them"
	if !strings.Contains(progress.String(), want) {
		t.Errorf("progress lacks %q:\n%s", want, progress.String())
	}
}

// TestUnreadableRecord: one record edited by hand warns, and deploy,
// history and rollback of the app go on around it.
func TestUnreadableRecord(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	rec, err := c.CoreV1().Secrets(ns).Get(ctx, RecordName("shop", 2), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec.Data[objectsKey] = []byte("not gzip")
	if _, err := c.CoreV1().Secrets(ns).Update(ctx, rec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	hist, err := History(ctx, c, ns, "shop")
	if err != nil || len(hist) != 2 || hist[1].Number != 2 || hist[1].Unreadable == "" || hist[0].Unreadable != "" {
		t.Fatalf("history = %+v, %v; want revision 2 listed as unreadable", hist, err)
	}
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	res, err := Run(ctx, c, &Config{Options: o, App: spec(t, "reg/shop:3", "")})
	if err != nil || res.Revision != 3 {
		t.Fatalf("deploy next to an unreadable record: %+v, %v", res, err)
	}
	if !strings.Contains(progress.String(), "warning: revision 2 of shop is unreadable") {
		t.Errorf("no warning:\n%s", progress.String())
	}
	if _, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 2}); !errors.Is(err, ErrNoRevision) ||
		!strings.Contains(err.Error(), "unreadable") {
		t.Fatalf("rollback to the unreadable revision: %v", err)
	}
	res, err = Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop"})
	if err != nil || res.Revision != 4 || image(t, c) != "reg/shop:1" {
		t.Fatalf("rollback skipping the unreadable revision: %+v, %v, image %s", res, err, image(t, c))
	}
}

// TestForgedRevisionNumber: a record copied under the largest revision
// number is unreadable, not the latest, so the next revision does not
// overflow (every later command of the app failed on an invalid label).
func TestForgedRevisionNumber(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	rec, err := c.CoreV1().Secrets(ns).Get(ctx, RecordName("shop", 1), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, forged := range []struct{ name, label string }{
		{RecordName("shop", math.MaxInt64), strconv.FormatInt(math.MaxInt64, 10)},
		{RecordName("shop", 7), "8"},
	} {
		f := rec.DeepCopy()
		f.Name, f.ResourceVersion, f.Labels[contract.LabelRevision] = forged.name, "", forged.label
		if _, err := c.CoreV1().Secrets(ns).Create(ctx, f, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// 9: past the number the misnamed record's label claims (numbers are
	// never reused), and not past the one out of range.
	res, err := Run(ctx, c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")})
	if err != nil || res.Revision != 9 {
		t.Fatalf("deploy beside forged records: %+v, %v", res, err)
	}
	hist, err := History(ctx, c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var unreadable []string
	for _, r := range hist {
		if r.Unreadable != "" {
			unreadable = append(unreadable, r.Unreadable)
		}
	}
	if len(unreadable) != 2 || !strings.Contains(strings.Join(unreadable, "\n"), "is not a revision kubectl zz writes (1 to 1099511627776); delete Secret zz.shop.r9223372036854775807") ||
		!strings.Contains(strings.Join(unreadable, "\n"), "Secret zz.shop.r7 is named for another revision than its label zz.io/revision=8; delete it") {
		t.Errorf("unreadable records: %q", unreadable)
	}
}

// TestEditedRecord: a record whose objects a namespace editor changed after
// kubectl zz wrote it (its annotations kept) is listed with the image its
// objects run, with a warning, and a rollback to it records that image, so
// history never shows one image while another runs.
func TestEditedRecord(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	rec, err := c.CoreV1().Secrets(ns).Get(ctx, RecordName("shop", 1), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(rec.Data[objectsKey])
	if err != nil {
		t.Fatal(err)
	}
	// swap rewrites the record's Deployment image, as a namespace editor can.
	swap := func(image string) {
		t.Helper()
		for _, o := range objs {
			if d, ok := o.(*appsv1.Deployment); ok {
				d.Spec.Template.Spec.Containers[0].Image = image
			}
		}
		if rec.Data[objectsKey], err = encodeObjects(objs); err != nil {
			t.Fatal(err)
		}
		if rec, err = c.CoreV1().Secrets(ns).Update(ctx, rec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	swap("evil/miner:latest")

	hist, err := History(ctx, c, ns, "shop")
	if err != nil || len(hist) != 2 || hist[0].Image != "evil/miner:latest" || hist[1].Image != "reg/shop:2" || hist[1].Edited != "" {
		t.Fatalf("history = %+v, %v; want revision 1 listed with the image its objects run", hist, err)
	}
	if w := strings.Join(Warnings(hist), "\n"); !strings.Contains(w, "warning: revision 1 of shop was changed after kubectl zz recorded it: its record says image \"reg/shop:1\", but its objects run \"evil/miner:latest\", which is what a rollback to it deploys") {
		t.Errorf("warnings: %q", w)
	}
	// An image with terminal escapes is quoted in the warning (stderr).
	swap("evil\x1b]0;pwned\x07")
	if hist, err = History(ctx, c, ns, "shop"); err != nil || strings.Contains(strings.Join(Warnings(hist), ""), "\x1b") ||
		!strings.Contains(strings.Join(Warnings(hist), ""), `"evil\x1b]0;pwned\a"`) {
		t.Errorf("warnings with an escape in the image: %q, %v", Warnings(hist), err)
	}
	swap("evil/miner:latest")

	res, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 1})
	if err != nil {
		t.Fatal(err)
	}
	if hist, err = History(ctx, c, ns, "shop"); err != nil || hist[len(hist)-1].Number != res.Revision || hist[len(hist)-1].Image != "evil/miner:latest" || hist[len(hist)-1].Edited != "" {
		t.Fatalf("the rollback's record: %+v, %v; want the image it deployed", hist[len(hist)-1], err)
	}
}

// TestDeployUnchanged: a deploy that would change nothing (the same
// objects as the latest revision, which runs, ready and not drifted)
// applies and records nothing; drift, --debug or another spec deploy.
func TestDeployUnchanged(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	run := func(app *appspec.App, debug bool) *Result {
		t.Helper()
		res, err := Run(ctx, c, &Config{Options: opts(), App: app, Debug: debug})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	revisions := func() int {
		t.Helper()
		hist, err := History(ctx, c, ns, "shop")
		if err != nil {
			t.Fatal(err)
		}
		return len(hist)
	}
	if res := run(spec(t, "reg/shop:1", ""), false); !res.Unchanged || res.Revision != 1 || revisions() != 1 {
		t.Fatalf("the same spec again: %+v, %d revisions", res, revisions())
	}
	// Drift: the Deployment was applied by a command that recorded nothing.
	d := deployment(t, c, "shop")
	d.Annotations[contract.AnnotationApplyID] = "SOMEONEELSE"
	if _, err := c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if res := run(spec(t, "reg/shop:1", ""), false); res.Unchanged || res.Revision != 2 {
		t.Fatalf("the same spec over a drifted app must apply it again: %+v", res)
	}
	if res := run(spec(t, "reg/shop:1", ""), true); res.Unchanged || res.Revision != 3 {
		t.Fatalf("--debug renders other objects: %+v", res)
	}
	if res := run(spec(t, "reg/shop:1", ""), false); res.Unchanged || res.Revision != 4 {
		t.Fatalf("back from --debug: %+v", res)
	}
	if _, err := Scale(ctx, c, &ChangeConfig{Options: opts(), App: "shop"}, 5); err != nil {
		t.Fatal(err)
	}
	if res := run(spec(t, "reg/shop:1", ""), false); res.Unchanged || res.Revision != 6 || *deployment(t, c, "shop").Spec.Replicas != 2 {
		t.Fatalf("the file's replicas after a scale: %+v", res)
	}
	if res := run(spec(t, "reg/shop:2", ""), false); res.Unchanged || res.Revision != 7 {
		t.Fatalf("a new image: %+v", res)
	}
	// Not ready: the deploy waits for the rollout, as any (and here fails).
	ctl.setStuck("reg/shop:2")
	waitFor(t, "the stuck rollout's first pod", func() bool { return deployment(t, c, "shop").Status.UpdatedReplicas == 1 })
	res, err := Run(ctx, c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")})
	if res == nil || res.Unchanged || !errors.Is(err, ErrRolloutFailed) {
		t.Fatalf("the same spec over an app that is not ready: %+v, %v", res, err)
	}
}

// sidecars is spec lines of a front auth sidecar of image, and more.
func sidecars(image, more string) string {
	return "  sidecars: [{name: auth, image: '" + image + "', ports: [{name: auth, port: 4180, front: true}]}" + more + "]\n"
}

// authSecretEnv is spec lines of sidecar auth with secretEnv entries.
func authSecretEnv(entries string) string {
	return "  sidecars: [{name: auth, image: 'p:1', secretEnv: {" + entries + "}}]\n"
}

// TestChangedFields: a deploy's change cause names the spec fields that
// changed (history told two deploys of one version apart by nothing), not
// the version and its image, which it names already.
func TestChangedFields(t *testing.T) {
	tests := []struct {
		a, b, want string
		unknown    []string // of a's record: the file b cannot hold them
	}{
		{"", "  env: {LOG: debug}\n", "env.LOG", nil},
		{"  env: {LOG: info}\n  pdb: true\n", "  env: {LOG: debug}\n", "env.LOG, pdb", nil},
		{"", "", "", nil},
		{"  env: {A: '1', B: '1', C: '1', D: '1'}\n", "", "env.A, env.B, env.C, env.D", nil},
		// Into lists by their entries' names or paths (an audit: any
		// sidecar change read "(sidecars)").
		{sidecars("p:1", ""), sidecars("p:2", ""), "sidecars.auth.image", nil},
		{sidecars("p:1", ""), sidecars("p:1", ", {name: log, image: 'l:1'}"), "sidecars.log", nil},
		{sidecars("p:1", ", {name: log, image: 'l:1'}"), sidecars("p:1", ""), "sidecars.log", nil},
		{sidecars("p:1", ""), strings.Replace(sidecars("p:1", ""), "front: true", "front: false", 1), "sidecars.auth.ports.auth.front", nil},
		{"  scratch: [{mountPath: /tmp, size: 1Gi}, {mountPath: /cache}]\n", "  scratch: [{mountPath: /tmp, size: 2Gi}, {mountPath: /cache}]\n", "scratch[/tmp].size", nil},
		{"  args: [a, b]\n", "  args: [a, c]\n", "args", nil},
		// An entry of a map of objects (secretEnv) is named whole where
		// one spec has it, as a list's is, and by its field where both do.
		{"", "  secretEnv: {DB: {secret: db, key: pw}}\n", "secretEnv.DB", nil},
		{"  secretEnv: {DB: {secret: db, key: pw}}\n", "  secretEnv: {DB: {secret: db, key: pw2}}\n", "secretEnv.DB.key", nil},
		{authSecretEnv(""), authSecretEnv("TOKEN: {secret: auth, key: token}"), "sidecars.auth.secretEnv.TOKEN", nil},
		{authSecretEnv("TOKEN: {secret: auth, key: token}"), authSecretEnv(""), "sidecars.auth.secretEnv.TOKEN", nil},
		{authSecretEnv("TOKEN: {secret: auth, key: token}"), authSecretEnv("TOKEN: {secret: auth2, key: token}"), "sidecars.auth.secretEnv.TOKEN.secret", nil},
		{"  healthCommand: [/app/check]\n", "  healthCommand: [/app/check, --deep]\n", "healthCommand", nil},
		{"", "", "futureAuth", []string{"spec.futureAuth"}},
		{"  pdb: true\n", "", "futureAuth, pdb", []string{"spec.futureAuth"}},
		// An unknown field inside a keyed entry is named by the entry's
		// key, as its known fields are, where it read sidecars[0].mtls
		// beside sidecars.auth.image (review 17a, C1); inside an entry
		// the file removed, the entry named whole says it.
		{sidecars("p:1", ""), sidecars("p:2", ""), "sidecars.auth.image, sidecars.auth.mtls", []string{"spec.sidecars[0].mtls"}},
		{sidecars("p:1", ""), sidecars("p:1", ""), "sidecars.auth.ports.auth.tls", []string{"spec.sidecars[0].ports[0].tls"}},
		{"  scratch: [{mountPath: /tmp}, {mountPath: /cache}]\n", "  scratch: [{mountPath: /tmp}]\n", "scratch[/cache]", []string{"spec.scratch[1].medium2"}},
		{"  scratch: [{mountPath: /tmp}, {mountPath: /cache}]\n", "  scratch: [{mountPath: /tmp}, {mountPath: /cache}]\n", "scratch[/cache].medium2", []string{"spec.scratch[1].medium2"}},
		{"  args: [a, b]\n", "  args: [a, b]\n", "args[1]", []string{"spec.args[1]"}},
	}
	for _, tt := range tests {
		if got := changedFields(spec(t, "reg/shop:1", tt.a), spec(t, "reg/shop:2", tt.b), tt.unknown); got != tt.want {
			t.Errorf("%q -> %q: %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
	if got := changedFields(spec(t, "reg/shop:1", "  version: '1'\n"), spec(t, "reg/shop:2", "  version: '1'\n"), nil); got != "image" {
		t.Errorf("the image alone: %q", got)
	}
	// As recorded and given (no defaults), a check by command instead of
	// the default path is the command alone.
	byPath := &appspec.App{Name: "shop", Spec: appspec.Spec{Type: appspec.TypeWeb, Image: "reg/shop:1"}}
	byCommand := &appspec.App{Name: "shop", Spec: appspec.Spec{Type: appspec.TypeWeb, Image: "reg/shop:1", HealthCommand: []string{"/app/check"}}}
	if got := changedFields(byPath, byCommand, nil); got != "healthCommand" {
		t.Errorf("healthPath's default to healthCommand: %q", got)
	}
	// As recorded and given (no defaults): the version is the image's tag.
	given := func(image, version, level string) *appspec.App {
		return &appspec.App{Name: "shop", Spec: appspec.Spec{Image: image, Version: version, Env: map[string]string{"LOG_LEVEL": level}}}
	}
	for _, tt := range []struct {
		a, b *appspec.App
		want string
	}{
		{given("reg/shop:1.0", "", "info"), given("reg/shop:1.1", "", "debug"), "env.LOG_LEVEL"},
		{given("reg/shop:1.0", "", "info"), given("reg/shop:1.1", "1.0", "info"), "image"},
		{given("reg/shop:1.0", "1.0", "info"), given("reg/shop:1.1", "", "info"), ""},
	} {
		if got := changedFields(tt.a, tt.b, nil); got != tt.want {
			t.Errorf("%s %q -> %s %q: %q, want %q", tt.a.Spec.Image, tt.a.Spec.Version, tt.b.Spec.Image, tt.b.Spec.Version, got, tt.want)
		}
	}
}
