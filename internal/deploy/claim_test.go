package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// TestClaimHolds: a Deployment holds while it carries the command's token
// and the template the apply stored; the error says who changed it.
func TestClaimHolds(t *testing.T) {
	objs := render.Render(spec(t, "reg/shop:1", ""), render.Options{Namespace: ns, Revision: 1})
	cl := newClaim("")
	var applied *appsv1.Deployment
	for _, o := range objs {
		if d, ok := cl.stamp(o).(*appsv1.Deployment); ok {
			applied = d
		}
	}
	if o := objs[len(objs)-1].(*appsv1.Deployment); o.Annotations[contract.AnnotationApplyID] != "" {
		t.Fatal("stamp changed the rendered object instead of a copy")
	}
	cl.applied(applied)
	at := metav1.NewTime(time.Date(2026, 12, 5, 9, 30, 1, 0, time.UTC))
	rollout := metav1.ManagedFieldsEntry{Manager: "kubectl-rollout", Operation: metav1.ManagedFieldsOperationUpdate, Time: &at,
		FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:template":{"f:metadata":{"f:annotations":{"f:kubectl.kubernetes.io/restartedAt":{}}}}}}`)}
	scaler := metav1.ManagedFieldsEntry{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Time: &at,
		FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:replicas":{}}}`)}
	tests := []struct {
		name   string
		change func(d *appsv1.Deployment)
		want   string // "" holds
	}{
		{"unchanged", func(*appsv1.Deployment) {}, ""},
		{"replicas and status change (HPA, controller)", func(d *appsv1.Deployment) {
			d.Spec.Replicas = new(int32(9))
			d.Status.ReadyReplicas = 4
			d.ManagedFields = []metav1.ManagedFieldsEntry{scaler}
		}, ""},
		{"another kubectl zz command", func(d *appsv1.Deployment) {
			d.Annotations[contract.AnnotationApplyID] = "other"
			d.Labels[contract.LabelVersion] = "2"
			d.Spec.Template.Labels[contract.LabelVersion] = "2"
			d.Spec.Template.Spec.Containers[0].Image = "reg/shop:2"
		}, "deployment team-a/shop was applied by another kubectl zz command while this one waited (its pod template now asks for version 2, image reg/shop:2); this command recorded nothing and rolled nothing back (kubectl zz status shop"},
		{"token removed", func(d *appsv1.Deployment) { delete(d.Annotations, contract.AnnotationApplyID) }, "applied by another kubectl zz command"},
		{"kubectl rollout restart", func(d *appsv1.Deployment) {
			d.Spec.Template.Annotations = map[string]string{contract.AnnotationRestartedAt: "now"}
			d.ManagedFields = []metav1.ManagedFieldsEntry{scaler, rollout, {Manager: contract.ManagedBy, Operation: metav1.ManagedFieldsOperationApply,
				FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:template":{}}}`)}}
		}, "the pod template of deployment team-a/shop was changed by kubectl-rollout at 09:30:01 while this command waited (its pod template now asks for version 1, image reg/shop:1)"},
		{"template changed by an unknown writer", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "X", Value: "y"})
		}, "the pod template of deployment team-a/shop was changed while"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := applied.DeepCopy()
			tt.change(d)
			err := cl.holds(d)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("holds = %v, want nil", err)
			case tt.want != "" && (!errors.Is(err, ErrSuperseded) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("holds = %v\nwant ErrSuperseded with %q", err, tt.want)
			}
		})
	}
	other := applied.DeepCopy()
	other.Name = "shop-canary"
	other.Annotations[contract.AnnotationApplyID] = "other"
	if err := cl.holds(other); err != nil {
		t.Errorf("a Deployment the command did not apply: %v", err)
	}
	if err := (*claim)(nil).holds(other); err != nil {
		t.Errorf("no claim: %v", err)
	}
}

// TestConcurrentDeploy: while one deploy waits for a rollout that cannot
// finish, another writer (kubectl rollout restart; another kubectl zz
// command once the lock is gone, TestAppLock) changes the Deployment. The
// waiting one stops, records nothing and does not roll back even with
// --rollback-on-failure; the other one's version runs.
func TestConcurrentDeploy(t *testing.T) {
	for _, other := range []string{"deploy", "restart"} {
		t.Run(other, func(t *testing.T) {
			c := fake.NewClientset()
			o := opts()
			o.Timeout = 20 * time.Second // a wait that only the other writer ends
			done := stuckDeploy(t.Context(), t, c, &Config{Options: o, RollbackOnFailure: true})
			wantImage, want := "reg/shop:slow", "the pod template of deployment team-a/shop was changed by kubectl-rollout"
			switch other {
			case "deploy":
				// Another kubectl zz deploy that took no lock (an older
				// release): the claim still catches it.
				if err := c.CoordinationV1().Leases(ns).Delete(t.Context(), LockName("shop"), metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				if rev := deployOK(t, c, spec(t, "reg/shop:2", ""), 0); rev != 2 {
					t.Fatalf("the second deploy recorded revision %d, want 2", rev)
				}
				wantImage, want = "reg/shop:2", "applied by another kubectl zz command while this one waited (its pod template now asks for version 2, image reg/shop:2)"
			case "restart":
				d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				d.Spec.Template.Annotations = map[string]string{contract.AnnotationRestartedAt: "2026-12-05T09:30:01Z"}
				if _, err := c.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{FieldManager: "kubectl-rollout"}); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the first deploy still waits after the other writer's change")
			}
			if !errors.Is(err, ErrSuperseded) || errors.Is(err, ErrRolloutFailed) || !strings.Contains(err.Error(), want) {
				t.Fatalf("first deploy: %v\nwant ErrSuperseded with %q", err, want)
			}
			if img := image(t, c); img != wantImage {
				t.Errorf("image = %s, want the other writer's %s", img, wantImage)
			}
			hist, _ := History(t.Context(), c, ns, "shop")
			if got := len(hist); got != map[string]int{"deploy": 2, "restart": 1}[other] || hist[got-1].Image == "reg/shop:slow" {
				t.Errorf("history after the superseded deploy: %d revisions, last %s", got, hist[got-1].Image)
			}
		})
	}
}

// TestVerifyBeforeRecord: a change that lands after the rollout completed
// still keeps the command from recording it as its own.
func TestVerifyBeforeRecord(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	objs := render.Render(spec(t, "reg/shop:1", ""), render.Options{Namespace: ns, Revision: 1})
	cl, err := applyObjects(t.Context(), c, ns, "shop", objs, false, false, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.verify(t.Context(), c, ns); err != nil {
		t.Fatalf("right after the apply: %v", err)
	}
	if _, err := applyObjects(t.Context(), c, ns, "shop", objs, false, false, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := cl.verify(t.Context(), c, ns); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("after another command applied the same objects: %v, want ErrSuperseded", err)
	}
	if err := c.AppsV1().Deployments(ns).Delete(t.Context(), "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cl.verify(t.Context(), c, ns); !errors.Is(err, ErrSuperseded) || !strings.Contains(err.Error(), "was deleted") {
		t.Fatalf("after the Deployment was deleted: %v", err)
	}
}

// TestFieldWriter: a field another manager owns alone is drift; one it
// shares with kubectl zz (a GitOps controller applying the same values) is
// not.
func TestFieldWriter(t *testing.T) {
	at := metav1.NewTime(time.Date(2026, 12, 6, 11, 13, 24, 0, time.UTC))
	entry := func(manager string, op metav1.ManagedFieldsOperationType, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Time: &at, FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
	}
	const image = `{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:name":{}}}}}}}`
	const env = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:env":{"k:{\"name\":\"DEBUG\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}`
	const replicas = `{"f:spec":{"f:replicas":{}}}`
	zz := entry(contract.ManagedBy, metav1.ManagedFieldsOperationApply, image)
	for name, tc := range map[string]struct {
		entries []metav1.ManagedFieldsEntry
		want    string
	}{
		"kubectl zz alone":             {[]metav1.ManagedFieldsEntry{zz}, ""},
		"argocd applied the same":      {[]metav1.ManagedFieldsEntry{zz, entry("argocd", metav1.ManagedFieldsOperationApply, image)}, ""},
		"kubectl set env added one":    {[]metav1.ManagedFieldsEntry{zz, entry("kubectl-set", metav1.ManagedFieldsOperationUpdate, env)}, " by kubectl-set at 11:13:24"},
		"argocd applied one more":      {[]metav1.ManagedFieldsEntry{zz, entry("argocd", metav1.ManagedFieldsOperationApply, env)}, " by argocd at 11:13:24"},
		"the HPA's replicas elsewhere": {[]metav1.ManagedFieldsEntry{zz, entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, replicas)}, ""},
		"took the image from zz": {[]metav1.ManagedFieldsEntry{entry(contract.ManagedBy, metav1.ManagedFieldsOperationApply, replicas),
			entry("kubectl-edit", metav1.ManagedFieldsOperationUpdate, image)}, " by kubectl-edit at 11:13:24"},
		"unreadable fields": {[]metav1.ManagedFieldsEntry{zz, entry("x", metav1.ManagedFieldsOperationUpdate, "{")}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			if got := fieldWriter(tc.entries, "spec", "template"); got != tc.want {
				t.Errorf("fieldWriter = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLatestWriterAndShared: the writer named is the latest by time, not by
// place in the list; a field kubectl zz owns as well is no other writer's
// (a mutation audit found both rules untested).
func TestLatestWriterAndShared(t *testing.T) {
	at := func(h, m int) *metav1.Time { return &metav1.Time{Time: time.Date(2026, 12, 6, h, m, 0, 0, time.UTC)} }
	entry := func(manager string, when *metav1.Time, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, Time: when,
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}
	}
	apply := func(manager, sub string, when *metav1.Time, fields string) metav1.ManagedFieldsEntry {
		e := entry(manager, when, fields)
		e.Operation, e.Subresource = metav1.ManagedFieldsOperationApply, sub
		return e
	}
	replicas := `{"f:spec":{"f:replicas":{}}}`
	template := `{"f:spec":{"f:template":{"f:metadata":{"f:annotations":{"f:a":{}}}}}}`
	tests := []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		leaf    string // leafWriter of spec.replicas
		tmpl    string // fieldWriter of spec.template
	}{
		{name: "the later by time, listed first",
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-edit", at(12, 5), replicas), entry("helm", at(12, 1), replicas)},
			leaf:    " by kubectl-edit at 12:05:00"},
		{name: "the later by time, listed last",
			entries: []metav1.ManagedFieldsEntry{entry("helm", at(12, 1), template), entry("kubectl-edit", at(12, 5), template)},
			tmpl:    " by kubectl-edit at 12:05:00"},
		{name: "an entry without a time loses to one with",
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-edit", at(12, 5), template), entry("old", nil, template)},
			tmpl:    " by kubectl-edit at 12:05:00"},
		{name: "shared with kubectl zz's apply",
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-scale", at(12, 5), replicas), apply(contract.ManagedBy, "", at(12, 1), replicas)}},
		{name: "shared with the handover's apply",
			entries: []metav1.ManagedFieldsEntry{entry("kubectl-scale", at(12, 5), replicas), apply(contract.FieldManagerHandover, "", at(12, 1), replicas)}},
		// Identity, not name: manager, operation and subresource.
		{name: "an update under kubectl zz's name is another writer",
			entries: []metav1.ManagedFieldsEntry{entry(contract.ManagedBy, at(12, 1), replicas), entry(contract.ManagedBy, at(12, 2), template)},
			leaf:    " under kubectl zz's field manager name (kubectl-zz, Update) at 12:01:00",
			tmpl:    " under kubectl zz's field manager name (kubectl-zz, Update) at 12:02:00"},
		{name: "an apply under kubectl zz's name for a subresource (kubectl scale) is another writer",
			entries: []metav1.ManagedFieldsEntry{apply(contract.ManagedBy, "", at(12, 1), template), apply(contract.ManagedBy, "scale", at(12, 5), replicas)},
			leaf:    " under kubectl zz's field manager name (kubectl-zz, Apply, subresource scale) at 12:05:00"},
	}
	for _, tt := range tests {
		if got := leafWriter(tt.entries, "spec", "replicas"); got != tt.leaf {
			t.Errorf("%s: leafWriter = %q, want %q", tt.name, got, tt.leaf)
		}
		if got := fieldWriter(tt.entries, "spec", "template"); got != tt.tmpl {
			t.Errorf("%s: fieldWriter = %q, want %q", tt.name, got, tt.tmpl)
		}
	}
}

// TestNewReplicaSetRefused: a refusal counts only when the ReplicaSet of
// the Deployment's revision reports it; an older one's does not (the fix of
// a refused spec is no failure), and with none of the revision the
// Deployment's condition is trusted.
func TestNewReplicaSetRefused(t *testing.T) {
	refused := appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
		Message: `pods "shop-2-x" is forbidden: admission webhook "pods.zz.io" denied the request: ` + contract.WebhookRefusalPrefix + "pool critical is reserved"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns, UID: "d-uid",
		Annotations: map[string]string{contract.AnnotationDeploymentRevision: "2"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"zz.io/app": "shop"}}}}
	rs := func(rev string, conds ...appsv1.ReplicaSetCondition) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "shop-" + rev, Namespace: ns, Labels: map[string]string{"zz.io/app": "shop"},
			Annotations:     map[string]string{contract.AnnotationDeploymentRevision: rev},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop", UID: "d-uid", Controller: ptr.To(true)}}},
			Status: appsv1.ReplicaSetStatus{Conditions: conds}}
	}
	tests := []struct {
		name string
		rss  []*appsv1.ReplicaSet
		want bool
	}{
		{"only the old one refused", []*appsv1.ReplicaSet{rs("1", refused), rs("2")}, false},
		{"the current one refused", []*appsv1.ReplicaSet{rs("1"), rs("2", refused)}, true},
		{"a refusal no longer true", []*appsv1.ReplicaSet{rs("2", appsv1.ReplicaSetCondition{Type: refused.Type, Status: corev1.ConditionFalse, Reason: refused.Reason, Message: refused.Message})}, false},
		{"none of the revision", []*appsv1.ReplicaSet{rs("1", refused)}, true},
	}
	for _, tt := range tests {
		c := fake.NewClientset()
		for _, r := range tt.rss {
			if _, err := c.AppsV1().ReplicaSets(ns).Create(t.Context(), r, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if got := newReplicaSetRefused(t.Context(), c, d); got != tt.want {
			t.Errorf("%s: newReplicaSetRefused = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestValidRevision: the bounds of a readable revision number.
func TestValidRevision(t *testing.T) {
	for n, want := range map[int64]bool{-1: false, 0: false, 1: true, maxRevision: true, maxRevision + 1: false} {
		if validRevision(n) != want {
			t.Errorf("validRevision(%d) = %v, want %v", n, !want, want)
		}
	}
}

// stuckDeploy starts a deploy of reg/shop:slow, which never gets ready, on
// an app running reg/shop:1, and returns once it applied: its error comes
// on the channel when it ends.
func stuckDeploy(ctx context.Context, t *testing.T, c *fake.Clientset, cfg *Config) <-chan error {
	t.Helper()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	ctl.setStuck("reg/shop:slow")
	cfg.App = spec(t, "reg/shop:slow", "")
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, c, cfg)
		done <- err
	}()
	waitFor(t, "the stuck deploy to apply", func() bool { return image(t, c) == "reg/shop:slow" })
	return done
}
