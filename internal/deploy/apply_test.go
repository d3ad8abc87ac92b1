package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

func liveReplicas(t *testing.T, c kubernetes.Interface) int32 {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Replicas == nil {
		return -1
	}
	return *d.Spec.Replicas
}

// TestHPAKeepsReplicas: adding an HPA to an app that ran 10 replicas keeps
// 10: server-side apply would drop the field zz stops setting (to 1 on a
// real apiserver) unless it is handed over first.
func TestHPAKeepsReplicas(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	app := spec(t, "reg/shop:1", "")
	app.Spec.Replicas = new(int32(10))
	deployOK(t, c, app, 0)
	if got := liveReplicas(t, c); got != 10 {
		t.Fatalf("replicas %d after deploy, want 10", got)
	}
	deployOK(t, c, spec(t, "reg/shop:1", "  hpa: {min: 2, max: 20}\n"), 0)
	if got := liveReplicas(t, c); got != 10 {
		t.Fatalf("replicas %d after adding an HPA, want 10 kept", got)
	}
	if _, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(t.Context(), "shop", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// And back: without the HPA the spec's count applies again.
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if got := liveReplicas(t, c); got != 2 {
		t.Fatalf("replicas %d after removing the HPA, want the spec's 2", got)
	}
}

// TestFirstDiffStartsAtHPAMin: deploy --diff of a first deploy with an
// hpa shows the replicas it starts at, hpa.min, not the default 1.
func TestFirstDiffStartsAtHPAMin(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	var out bytes.Buffer
	if _, err := Diff(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", "  hpa: {min: 3, max: 20}\n")}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "+  replicas: 3") {
		t.Errorf("diff:\n%s", out.String())
	}
}

// TestFirstDeployStartsAtHPAMin: an app deployed first with an hpa starts
// at hpa.min, not the apiserver's default 1 until the HPA's first sync, and
// the next deploy keeps the count (it belongs to the handover manager, not
// to the apply that leaves replicas out).
func TestFirstDeployStartsAtHPAMin(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", "  hpa: {min: 3, max: 20}\n"), 0)
	if got := liveReplicas(t, c); got != 3 {
		t.Fatalf("replicas %d after the first deploy, want hpa.min 3", got)
	}
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ownsField(d.ManagedFields, contract.ManagedBy, "spec", "replicas") {
		t.Error("kubectl zz's apply owns spec.replicas: its next apply would drop them to 1")
	}
	// The HPA scales to 7; a deploy of a new image keeps 7.
	if _, err := c.AppsV1().Deployments(ns).Patch(t.Context(), "shop", types.MergePatchType, []byte(`{"spec":{"replicas":7}}`), metav1.PatchOptions{FieldManager: "horizontal-pod-autoscaler"}); err != nil {
		t.Fatal(err)
	}
	deployOK(t, c, spec(t, "reg/shop:2", "  hpa: {min: 3, max: 20}\n"), 0)
	if got := liveReplicas(t, c); got != 7 {
		t.Fatalf("replicas %d after a second deploy, want the HPA's 7 kept", got)
	}
}

func configMaps(t *testing.T, c kubernetes.Interface) map[string]string {
	t.Helper()
	l, err := c.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, cm := range l.Items {
		out[cm.Name] = cm.Data["app.conf"]
		if cm.Immutable == nil || !*cm.Immutable {
			t.Errorf("ConfigMap %s is mutable", cm.Name)
		}
	}
	return out
}

// TestFailedDeployKeepsConfig: config ConfigMaps are named by content, so a
// deploy that fails leaves the one running pods mount untouched; the next
// successful deploy deletes the ones it does not use.
func TestFailedDeployKeepsConfig(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", "  configFiles: {app.conf: one}\n"), 0)
	before := configMaps(t, c)
	if len(before) != 1 {
		t.Fatalf("config maps after the first deploy: %v", before)
	}
	ctl.setStuck("reg/shop:bad")
	o := opts()
	o.Timeout = 200 * time.Millisecond
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:bad", "  configFiles: {app.conf: two}\n")}); !errors.Is(err, ErrRolloutFailed) {
		t.Fatalf("err = %v", err)
	}
	after := configMaps(t, c)
	for name, data := range before {
		if after[name] != data {
			t.Fatalf("the failed deploy changed ConfigMap %s: %q, want %q", name, after[name], data)
		}
	}
	deployOK(t, c, spec(t, "reg/shop:3", "  configFiles: {app.conf: three}\n"), 0)
	if got := configMaps(t, c); len(got) != 1 {
		t.Fatalf("config maps after a successful deploy: %v, want only the one it mounts", got)
	}
}

// TestAdoptOtherSelector: a Deployment made by kubectl create deployment
// selects app=NAME; its selector cannot change, so it is refused with the
// way out, --adopt included, instead of the apiserver's "field is immutable".
func TestAdoptOtherSelector(t *testing.T) {
	for _, adopt := range []bool{false, true} {
		plain := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns, Labels: map[string]string{"app": "shop"}},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "shop", Image: "nginx"}}}}}}
		c := fake.NewClientset(plain)
		startController(t, c)
		// The diff refuses it as the deploy does (an app-developer audit
		// saw a plausible diff, then the refusal).
		var out strings.Builder
		_, derr := Diff(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", ""), Adopt: adopt}, &out)
		_, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", ""), Adopt: adopt})
		if !errors.Is(err, ErrNotManaged) || !strings.Contains(err.Error(), "deployment team-a/shop selects pods by app=shop, not zz.io/app=shop as kubectl zz's do") ||
			!strings.Contains(err.Error(), "not with --adopt either): delete it (kubectl delete deployment shop -n team-a; its pods go with it)") {
			t.Fatalf("adopt %t: err = %v", adopt, err)
		}
		if !errors.Is(derr, ErrNotManaged) || !strings.HasPrefix(derr.Error(), "the deploy would be refused: not managed by kubectl zz: deployment team-a/shop selects pods by app=shop") || out.Len() > 0 {
			t.Errorf("diff, adopt %t: %v\n%s", adopt, derr, out.String())
		}
	}
}

// TestAdopt: an existing object kubectl zz did not create is refused by
// name unless Adopt is set.
func TestAdopt(t *testing.T) {
	for _, adopt := range []bool{false, true} {
		c := fake.NewClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns, Labels: map[string]string{"owner": "ops"}}})
		startController(t, c)
		_, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", ""), Adopt: adopt})
		if adopt {
			if err != nil {
				t.Fatalf("adopt: %v", err)
			}
			svc, _ := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
			if svc.Labels[contract.LabelK8sManagedBy] != contract.ManagedBy {
				t.Fatalf("adopted service labels %v", svc.Labels)
			}
			continue
		}
		if !errors.Is(err, ErrNotManaged) || !strings.Contains(err.Error(), "Service team-a/shop exists without label app.kubernetes.io/managed-by=kubectl-zz; deploy --adopt") {
			t.Fatalf("err = %v", err)
		}
		if _, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{}); err == nil {
			t.Fatal("a refused deploy created the Deployment")
		}
	}
}

// TestRefusedAppliesNothing: every object is judged before any is applied,
// so an Ingress (applied last) that another tool owns stops the deploy with
// the Deployment as it was and no new ConfigMap, and names every refusal.
func TestRefusedAppliesNothing(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", "  configFiles: {app.conf: one}\n"), 0)
	helm := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns, Labels: map[string]string{contract.LabelK8sManagedBy: "Helm"}}}
	if _, err := c.NetworkingV1().Ingresses(ns).Create(t.Context(), helm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := configMaps(t, c)
	_, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "  configFiles: {app.conf: two}\n  ingress: {host: shop.example.com}\n")})
	if !errors.Is(err, ErrNotManaged) || !strings.Contains(err.Error(), "Ingress team-a/shop exists without label app.kubernetes.io/managed-by=kubectl-zz") ||
		!strings.Contains(err.Error(), "nothing was applied") {
		t.Fatalf("err = %v", err)
	}
	if got := image(t, c); got != "reg/shop:1" {
		t.Errorf("the refused deploy applied the Deployment: it runs %s", got)
	}
	if after := configMaps(t, c); len(after) != len(before) {
		t.Errorf("the refused deploy applied a ConfigMap: %v, before %v", after, before)
	}
}

// TestPruneTakesOnlyWhatZZWrote: objects that carry the app's labels but
// that kubectl zz never wrote (kubectl expose copies a Deployment's labels
// onto its Service; a GitOps overlay adds them to its own objects) are not
// pruned, deleted or taken for the app's canary; what zz wrote and stopped
// rendering is pruned, and said so.
func TestPruneTakesOnlyWhatZZWrote(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", "  ports: [{name: metrics, port: 7070}]\n  ingress: {host: shop.example.com}\n"), 0)
	labels := map[string]string{contract.LabelApp: "shop", contract.LabelK8sManagedBy: contract.ManagedBy}
	exposed := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "shop-public", Namespace: ns, Labels: labels,
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl-expose", Operation: metav1.ManagedFieldsOperationUpdate}}}}
	if _, err := c.CoreV1().Services(ns).Create(t.Context(), exposed, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop-worker", Namespace: ns, Labels: labels,
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "argocd", Operation: metav1.ManagedFieldsOperationApply}}},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "w", Image: "x"}}}}}}
	if _, err := c.AppsV1().Deployments(ns).Create(t.Context(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if name, err := canaryOf(t.Context(), c, ns, "shop"); err != nil || name != "" {
		t.Fatalf("canaryOf = %q, %v; want none: shop-worker is another's", name, err)
	}

	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", "")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NetworkingV1().Ingresses(ns).Get(t.Context(), "shop", metav1.GetOptions{}); err == nil {
		t.Error("the Ingress the new revision lacks was not pruned")
	}
	if !strings.Contains(progress.String(), "ingress shop pruned: this revision does not have it") {
		t.Errorf("the prune was not said:\n%s", progress.String())
	}
	if _, err := c.CoreV1().Services(ns).Get(t.Context(), "shop-public", metav1.GetOptions{}); err != nil {
		t.Errorf("kubectl expose's Service was pruned: %v", err)
	}
	res, err := Delete(t.Context(), c, &DeleteConfig{Namespace: ns, App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Deleted, "Deployment/shop") || slices.Contains(res.Deleted, "Service/shop-public") || slices.Contains(res.Deleted, "Deployment/shop-worker") {
		t.Errorf("deleted %v", res.Deleted)
	}
	if want := []string{"Deployment/shop-worker", "Service/shop-public"}; !slices.Equal(res.NotOurs, want) {
		t.Errorf("left as not kubectl zz's: %v, want %v", res.NotOurs, want)
	}
	for _, get := range []func() error{
		func() error {
			_, err := c.CoreV1().Services(ns).Get(t.Context(), "shop-public", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop-worker", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); err != nil {
			t.Errorf("delete took another's object: %v", err)
		}
	}
}

// TestHPANotFromTheSpecKeepsReplicas: an HPA another tool made (kubectl
// autoscale, a Helm chart's <release>-hpa) scales the app; a deploy or a
// restart leaves its replicas alone and says so.
func TestHPANotFromTheSpecKeepsReplicas(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "shop-hpa", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: new(int32(6)), MaxReplicas: 8,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop"}}}
	if _, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The HPA controller's write.
	if _, err := c.AppsV1().Deployments(ns).Patch(t.Context(), "shop", types.MergePatchType, []byte(`{"spec":{"replicas":6}}`),
		metav1.PatchOptions{FieldManager: "kube-controller-manager"}); err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", "")}); err != nil {
		t.Fatal(err)
	}
	if got := liveReplicas(t, c); got != 6 {
		t.Errorf("replicas %d after a deploy under another's HPA, want its 6", got)
	}
	if !strings.Contains(progress.String(), "deployment shop: replicas left to HorizontalPodAutoscaler shop-hpa (6 to 8 replicas), which kubectl zz did not make; the spec's 2 apply once it is gone") {
		t.Errorf("not said:\n%s", progress.String())
	}
	if _, err := Restart(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if got := liveReplicas(t, c); got != 6 {
		t.Errorf("replicas %d after a restart under another's HPA, want its 6", got)
	}
}

// TestPausedDeploymentRefused: a Deployment someone paused is refused
// before anything is applied, naming the way out; status says it is
// paused, instead of a deploy waiting out --timeout for a rollout that
// never starts.
func TestPausedDeploymentRefused(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if _, err := c.AppsV1().Deployments(ns).Patch(t.Context(), "shop", types.MergePatchType, []byte(`{"spec":{"paused":true}}`),
		metav1.PatchOptions{FieldManager: "kubectl-rollout"}); err != nil {
		t.Fatal(err)
	}
	_, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")})
	if err == nil || !strings.Contains(err.Error(), "deployment team-a/shop is paused by kubectl-rollout at ") ||
		!strings.Contains(err.Error(), "kubectl rollout resume deployment/shop -n team-a, then run this again") {
		t.Fatalf("deploy of a paused Deployment: %v", err)
	}
	if _, err := Restart(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"}); err == nil || !strings.Contains(err.Error(), "is paused") {
		t.Errorf("restart of a paused Deployment: %v", err)
	}
	// A scale works on a paused Deployment, as kubectl scale's.
	if _, err := Scale(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"}, 3); err != nil {
		t.Errorf("scale of a paused Deployment: %v", err)
	}
	if got := image(t, c); got != "reg/shop:1" {
		t.Errorf("applied anyway: runs %s", got)
	}
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(st.Drift, func(d string) bool { return strings.HasPrefix(d, "deployment shop is paused by kubectl-rollout at ") }) {
		t.Errorf("status drift: %q", st.Drift)
	}
}

// TestHandScaleIsDrift: kubectl scale without an HPA is drift, so a deploy
// of the same spec applies the recorded replicas again instead of saying
// the revision runs; the HPA controller's writes are not drift.
func TestHandScaleIsDrift(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	scale := func(manager string, n int) {
		t.Helper()
		if _, err := c.AppsV1().Deployments(ns).Patch(t.Context(), "shop", types.MergePatchType, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n),
			metav1.PatchOptions{FieldManager: manager}); err != nil {
			t.Fatal(err)
		}
	}
	scale("kubectl", 5)
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(st.Drift, func(d string) bool {
		return strings.HasPrefix(d, "deployment shop: its replicas (5) were set by kubectl at ")
	}) {
		t.Errorf("status drift after kubectl scale: %q", st.Drift)
	}
	var progress strings.Builder
	o := opts()
	o.Progress = &progress
	res, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:1", "")})
	if err != nil || res.Unchanged {
		t.Fatalf("deploy of the same spec over a hand scale: %+v, %v", res, err)
	}
	if !strings.Contains(progress.String(), "deployment shop: replicas 5 → 2, as the revision records (the 5 were set by kubectl at ") {
		t.Errorf("the replicas taken back were not said:\n%s", progress.String())
	}
	if got := liveReplicas(t, c); got != 2 {
		t.Errorf("replicas %d after the deploy, want the spec's 2", got)
	}
	// An HPA (one kubectl zz did not make, whose replicas a deploy leaves
	// alone) scales it: neither its writes nor a hand scale beside it are
	// drift, or every deploy would record a copy and fix nothing.
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "shop-hpa", Namespace: ns},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: new(int32(3)), MaxReplicas: 8,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop"}}}
	if _, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, manager := range []string{"kube-controller-manager", "kubectl"} {
		scale(manager, 4)
		if st, err := AppStatusOf(t.Context(), c, ns, "shop"); err != nil || len(st.Drift) != 0 {
			t.Errorf("replicas set by %s under an HPA are drift: %v %q", manager, err, st.Drift)
		}
	}
}

// TestDebugDeployIsShown: a revision deployed with --debug (no probes) says
// so in its change cause, and status says the app runs without probes,
// until a deploy without it (they looked alike in history and status).
func TestDebugDeployIsShown(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	if _, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", ""), Debug: true}); err != nil {
		t.Fatal(err)
	}
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil || !st.NoProbes || st.ChangeCause != "deploy 1 (--debug: no probes)" {
		t.Fatalf("status after a --debug deploy: %v, noProbes %v, cause %q", err, st.NoProbes, st.ChangeCause)
	}
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if st, err := AppStatusOf(t.Context(), c, ns, "shop"); err != nil || st.NoProbes || st.ChangeCause != "deploy 1" {
		t.Fatalf("status after a deploy without --debug: %v, noProbes %v, cause %q", err, st.NoProbes, st.ChangeCause)
	}
}

// TestChangeCauseOnTheDeployment: each apply that changes the pod template
// stamps the revision's change cause on the Deployment, which the
// controller copies onto the template's ReplicaSet, so kubectl rollout
// history tells the same story as history; a scale stamps none (it would
// replace the cause of the ReplicaSet that runs).
func TestChangeCauseOnTheDeployment(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	cause := func() string {
		t.Helper()
		d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Annotations[contract.AnnotationChangeCause]
	}
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if got := cause(); got != "kubectl zz revision 1: deploy 1" {
		t.Errorf("after deploy: change cause %q", got)
	}
	if _, err := Scale(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"}, 3); err != nil {
		t.Fatal(err)
	}
	if got := cause(); strings.Contains(got, "scale") {
		t.Errorf("after scale: change cause %q", got)
	}
	if _, err := Restart(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if got := cause(); got != "kubectl zz revision 3: restart" {
		t.Errorf("after restart: change cause %q", got)
	}
	// Nothing else that leaves the pod template as it runs stamps its own:
	// the ReplicaSet of the running pods keeps the cause of the revision
	// that made them (an audit saw the stable pods' called "canary 4.1.0").
	ctx := t.Context()
	if _, err := Scale(ctx, c, &ChangeConfig{Options: opts(), App: "shop"}, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, c, &Config{Options: opts(), App: spec(t, "reg/shop:1", "  hpa: {min: 2, max: 4}\n")}); err != nil {
		t.Fatal(err)
	}
	if got := cause(); got != "kubectl zz revision 3: restart" {
		t.Errorf("after a deploy that changes no pod template: change cause %q", got)
	}
	if _, err := RunCanary(ctx, c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")}, CanaryShare{Count: 1}); err != nil {
		t.Fatal(err)
	}
	if got := cause(); got != "kubectl zz revision 3: restart" {
		t.Errorf("after a canary: the stable Deployment's change cause %q", got)
	}
	if d, err := c.AppsV1().Deployments(ns).Get(ctx, "shop-canary", metav1.GetOptions{}); err != nil || d.Annotations[contract.AnnotationChangeCause] != "kubectl zz revision 6: canary 2 (1 pod; hpa.cpuPercent, hpa.max, hpa.min)" { // the spec it would promote drops the HPA
		t.Errorf("the canary's change cause: %v %v", d.Annotations, err)
	}
	if _, err := Abort(ctx, c, &CanaryActionConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if got := cause(); got != "kubectl zz revision 3: restart" {
		t.Errorf("after an abort: change cause %q", got)
	}
}

// TestDriftUndoStampsItsCause: a kubectl edit adds an env var to the pod
// template; the same spec deployed again takes it back, which changes the
// template (a ReplicaSet rolls), so the Deployment carries this deploy's
// change cause. Its dry run, as the apiserver's server-side apply, keeps
// the other manager's env var (the take-back removes it after), and the
// deploy took the template for unchanged and kept revision 1's cause on the
// new ReplicaSet (e2e TestDriftUndoStampsItsCause saw it).
func TestDriftUndoStampsItsCause(t *testing.T) {
	edited := func(d *appsv1.Deployment) bool {
		return slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "EDITED" })
	}
	c := fake.NewClientset()
	// The apiserver's dry-run apply keeps the fields another manager owns
	// that the apply does not set: here, all of the edited template.
	c.PrependReactor("patch", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p, ok := a.(clienttesting.PatchActionImpl)
		if !ok || len(p.PatchOptions.DryRun) == 0 || a.GetSubresource() != "" {
			return false, nil, nil
		}
		live, err := c.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), p.GetNamespace(), p.GetName())
		if err != nil || !edited(live.(*appsv1.Deployment)) {
			return false, nil, nil
		}
		return true, live, nil
	})
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	d := deployment(t, c, "shop")
	d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "EDITED", Value: "1"})
	if _, err := c.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	res, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", "")})
	if err != nil || res.Revision != 2 {
		t.Fatalf("the same spec over the edit: %+v, %v; want revision 2", res, err)
	}
	d = deployment(t, c, "shop")
	if edited(d) {
		t.Fatalf("the edit's env var is still there: %v", d.Spec.Template.Spec.Containers[0].Env)
	}
	if got, want := d.Annotations[contract.AnnotationChangeCause], "kubectl zz revision 2: deploy 1"; got != want {
		t.Errorf("change cause %q after the undo of the edit, want %q", got, want)
	}
}

// TestRolloutUndoNamesTheRevision: kubectl rollout undo puts an older
// revision's pod template back with its token; status names that revision
// instead of "a command that recorded no revision".
func TestRolloutUndoNamesTheRevision(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	first, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	// What kubectl rollout undo writes: the first template and its
	// ReplicaSet's annotations (the token among them).
	undo := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"reg/shop:1"}]}}}}`,
		contract.AnnotationApplyID, first.Annotations[contract.AnnotationApplyID])
	if _, err := c.AppsV1().Deployments(ns).Patch(t.Context(), "shop", types.StrategicMergePatchType, []byte(undo), metav1.PatchOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}
	// Rolled out (the rollout still under way is TestBookRollingOut's):
	// it runs revision 1's template.
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := *d.Spec.Replicas
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: want, UpdatedReplicas: want, ReadyReplicas: want, AvailableReplicas: want}
	if _, err := c.AppsV1().Deployments(ns).UpdateStatus(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(st.Drift, func(d string) bool {
		return strings.HasPrefix(d, "deployment shop runs the pod template of revision 1 (") && strings.Contains(d, "image reg/shop:1), not revision 2")
	}) {
		t.Errorf("drift after a rollout undo: %q", st.Drift)
	}
}

// TestRestoreOnAPausedDeployment: an operator pauses a bad rollout; the
// restore after it fails still puts the last good template back (it rolls
// out once resumed), where a refusal left the failed one in place.
func TestRestoreOnAPausedDeployment(t *testing.T) {
	c := fake.NewClientset()
	ctl := startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	ctl.setStuck("reg/shop:2")
	go func() {
		// While the deploy waits: once its template is applied (a fixed
		// sleep paused the Deployment before the apply on a loaded
		// machine, and the test failed under -race).
		for ctx := t.Context(); ctx.Err() == nil; {
			d, err := c.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})
			if err == nil && d.Spec.Template.Spec.Containers[0].Image == "reg/shop:2" {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		_, _ = c.AppsV1().Deployments(ns).Patch(context.Background(), "shop", types.MergePatchType, []byte(`{"spec":{"paused":true}}`),
			metav1.PatchOptions{FieldManager: "kubectl-rollout"})
	}()
	o := opts()
	_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", ""), RollbackOnFailure: true})
	if err == nil || !strings.Contains(err.Error(), "revision 1's pod template is back in place, but deployment team-a/shop is paused") {
		t.Fatalf("a failed deploy on a paused Deployment: %v", err)
	}
	if got := image(t, c); got != "reg/shop:1" {
		t.Errorf("the Deployment runs %s after the restore, want reg/shop:1", got)
	}
}

// TestDeployAfterRestartKeepsItsPods: a deploy of the same spec after a
// restart is unchanged (the restart stamp is kept), where it dropped the
// stamp and replaced every pod again.
func TestDeployAfterRestartKeepsItsPods(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if _, err := Restart(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	res, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", "")})
	if err != nil || !res.Unchanged {
		t.Fatalf("deploy of the same spec after a restart: %+v, %v", res, err)
	}
	// A new version keeps the stamp too: it rolls for its image alone.
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	d, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Annotations[contract.AnnotationRestartedAt] == "" {
		t.Errorf("the restart stamp after a new version: %v, %v", err, d.Spec.Template.Annotations)
	}
}

// TestMissingObjectIsDrift: an object of the latest revision deleted by
// hand (the Service) is drift that status names, where it showed the app
// Ready and undrifted (a concurrency audit); a record written before the
// object list is not judged.
func TestMissingObjectIsDrift(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if st, err := AppStatusOf(t.Context(), c, ns, "shop"); err != nil || len(st.Drift) != 0 {
		t.Fatalf("after the deploy: %v, drift %v", err, st.Drift)
	}
	if err := c.CoreV1().Services(ns).Delete(t.Context(), "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil || len(st.Drift) != 1 || st.Drift[0] != "service shop of revision 1 is missing: deleted outside kubectl zz (kubectl zz deploy or rollback applies it again)" {
		t.Fatalf("after deleting the Service: %v, drift %q", err, st.Drift)
	}
	rec, err := c.CoreV1().Secrets(ns).Get(t.Context(), RecordName("shop", 1), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(rec.Annotations, contract.AnnotationObjects)
	if _, err := c.CoreV1().Secrets(ns).Update(t.Context(), rec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, err := AppStatusOf(t.Context(), c, ns, "shop"); err != nil || len(st.Drift) != 0 {
		t.Errorf("an older record: %v, drift %q", err, st.Drift)
	}
}

// TestMissingConfigMapRedeployed: a config files ConfigMap deleted by hand
// is drift, and a deploy of the same spec puts it back instead of saying
// unchanged (a review: the pods would mount nothing).
func TestMissingConfigMapRedeployed(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	app := spec(t, "reg/shop:1", "  configFiles: {app.properties: a=1}\n")
	deployOK(t, c, app, 0)
	name := render.ConfigMapName("shop", app.Spec.ConfigFiles)
	if err := c.CoreV1().ConfigMaps(ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil || len(st.Drift) != 1 || !strings.Contains(st.Drift[0], "configmap "+name+" of revision 1 is missing") {
		t.Fatalf("after deleting the ConfigMap: %v, drift %q", err, st.Drift)
	}
	res, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", "  configFiles: {app.properties: a=1}\n")})
	if err != nil || res.Unchanged {
		t.Fatalf("deploy of the same spec: %+v, %v", res, err)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
		t.Errorf("the ConfigMap is not back: %v", err)
	}
}

// TestStatusEndpoints: status says where the app answers: its Ingress's
// URL (https with TLS), then its Service's in-cluster address.
func TestStatusEndpoints(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", "  ingress: {host: shop.example.com, tlsSecret: shop-tls}\n"), 0)
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if want := []string{"https://shop.example.com/", "shop." + ns + ".svc:8080"}; err != nil || !slices.Equal(st.Endpoints, want) {
		t.Fatalf("endpoints %q, %v; want %q", st.Endpoints, err, want)
	}
	// A load balancer: <pending> until its controller writes an address,
	// then the address, before the in-cluster one.
	deployOK(t, c, spec(t, "reg/shop:1", "  service: {type: LoadBalancer, annotations: {lb.example.com/internal: 'true'}, externalTrafficPolicy: Local, loadBalancerSourceRanges: [10.0.0.0/8]}\n"), 0)
	svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal ||
		!slices.Equal(svc.Spec.LoadBalancerSourceRanges, []string{"10.0.0.0/8"}) || svc.Annotations["lb.example.com/internal"] != "true" {
		t.Fatalf("service %+v, annotations %v: want the spec's LoadBalancer", svc.Spec, svc.Annotations)
	}
	st, err = AppStatusOf(t.Context(), c, ns, "shop")
	if want := []string{"<pending>:8080", "shop." + ns + ".svc:8080"}; err != nil || !slices.Equal(st.Endpoints, want) {
		t.Fatalf("endpoints %q, %v; want %q", st.Endpoints, err, want)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.5"}}
	if _, err := c.CoreV1().Services(ns).UpdateStatus(t.Context(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err = AppStatusOf(t.Context(), c, ns, "shop")
	if want := []string{"203.0.113.5:8080", "shop." + ns + ".svc:8080"}; err != nil || !slices.Equal(st.Endpoints, want) {
		t.Fatalf("endpoints %q, %v; want %q", st.Endpoints, err, want)
	}
}

// TestRefusedBeforeAnyWrite: every object goes through the apiserver's
// dry run before the first is written, so a Service a quota refuses
// leaves no new ConfigMap behind; an object being deleted (a load
// balancer's finalizer) is refused, not applied to and lost after.
func TestRefusedBeforeAnyWrite(t *testing.T) {
	t.Run("quota", func(t *testing.T) {
		c := fake.NewClientset()
		c.PrependReactor("patch", "services", func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(corev1.Resource("services"), "shop", errors.New("exceeded quota: lb, requested: services.loadbalancers=1, used: services.loadbalancers=0, limited: services.loadbalancers=0"))
		})
		startController(t, c)
		_, err := Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:1", "  configFiles: {app.conf: x}\n  service: {type: LoadBalancer}\n")})
		if err == nil || !strings.Contains(err.Error(), "apply Service team-a/shop (dry run)") || !strings.Contains(err.Error(), "nothing was applied") {
			t.Fatalf("err %v, want the dry run's refusal", err)
		}
		if cms := configMaps(t, c); len(cms) != 0 {
			t.Errorf("ConfigMaps %v left behind", cms)
		}
		if _, err := c.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a Deployment was applied: %v", err)
		}
	})
	t.Run("being deleted", func(t *testing.T) {
		c := fake.NewClientset()
		startController(t, c)
		deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
		svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc.Finalizers, svc.DeletionTimestamp = []string{"service.kubernetes.io/load-balancer-cleanup"}, ptr.To(metav1.Now())
		if _, err := c.CoreV1().Services(ns).Update(t.Context(), svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = Run(t.Context(), c, &Config{Options: opts(), App: spec(t, "reg/shop:2", "")})
		if err == nil || !strings.Contains(err.Error(), "service team-a/shop is being deleted") || !strings.Contains(err.Error(), "service.kubernetes.io/load-balancer-cleanup") {
			t.Fatalf("err %v, want the Service being deleted named", err)
		}
		if image(t, c) != "reg/shop:1" {
			t.Errorf("image %s: the refused deploy applied", image(t, c))
		}
	})
}

// TestPinnedNodePortIsNoDrift: a node port set by hand (the spec has no
// field for it) is kept by every deploy and is no drift, where status said
// drifted for good and each deploy claimed to remove it; another spec
// field written by hand still is.
func TestPinnedNodePortIsNoDrift(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	lb := "  service: {type: NodePort}\n"
	deployOK(t, c, spec(t, "reg/shop:1", lb), 0)
	patch := func(body string) {
		t.Helper()
		if _, err := c.CoreV1().Services(ns).Patch(t.Context(), "shop", types.StrategicMergePatchType, []byte(body), metav1.PatchOptions{FieldManager: "kubectl-patch"}); err != nil {
			t.Fatal(err)
		}
	}
	patch(`{"spec":{"ports":[{"port":8080,"protocol":"TCP","nodePort":30080}]}}`)
	if st, err := AppStatusOf(t.Context(), c, ns, "shop"); err != nil || len(st.Drift) != 0 {
		t.Errorf("a pinned node port is drift: %v %q", err, st.Drift)
	}
	var progress bytes.Buffer
	o := opts()
	o.Progress = &progress
	if _, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", lb)}); err != nil || strings.Contains(progress.String(), "removed from its spec") {
		t.Errorf("deploy beside a pinned node port: %v\n%s", err, progress.String())
	}
	patch(`{"spec":{"sessionAffinity":"ClientIP"}}`)
	if st, err := AppStatusOf(t.Context(), c, ns, "shop"); err != nil || len(st.Drift) == 0 {
		t.Errorf("a hand-set session affinity is no drift: %v %q", err, st.Drift)
	}
}

// TestNextNumberSkipsAFailedApply: a command stamps its number on the
// ReplicaSet before its rollout is known to complete, so the number of one
// that failed is not used again (two ReplicaSets claimed revision 10, an
// audit of CI use); the ReplicaSets of a deleted app, another app's and
// causes kubectl zz did not write count for nothing.
func TestNextNumberSkipsAFailedApply(t *testing.T) {
	dep := func(name, uid string) runtime.Object {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid),
			Labels: map[string]string{contract.LabelApp: "shop", contract.LabelK8sManagedBy: contract.ManagedBy}}}
	}
	rs := func(name, app, owner, cause string) runtime.Object {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels:          map[string]string{contract.LabelApp: app},
			Annotations:     map[string]string{contract.AnnotationChangeCause: cause},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "shop", UID: types.UID(owner)}}}}
	}
	tests := []struct {
		name string
		objs []runtime.Object
		want int64
	}{
		{"no ReplicaSet", []runtime.Object{dep("shop", "u1")}, 10},
		{"recorded numbers only", []runtime.Object{dep("shop", "u1"), rs("a", "shop", "u1", "kubectl zz revision 9: deploy 2")}, 10},
		{"a failed deploy's", []runtime.Object{dep("shop", "u1"), rs("a", "shop", "u1", "kubectl zz revision 9: deploy 2"), rs("b", "shop", "u1", "kubectl zz revision 10: deploy 3 (cpu)")}, 11},
		{"a failed canary's", []runtime.Object{dep("shop", "u1"), dep("shop-canary", "u2"), rs("c", "shop", "u2", "kubectl zz revision 12: canary 3 (1 pod)")}, 13},
		{"a deleted app's", []runtime.Object{dep("shop", "u1"), rs("b", "shop", "old", "kubectl zz revision 10: deploy 3")}, 10},
		{"no Deployment", []runtime.Object{rs("b", "shop", "u1", "kubectl zz revision 10: deploy 3")}, 10},
		{"another app's", []runtime.Object{dep("shop", "u1"), rs("b", "web", "u1", "kubectl zz revision 10: deploy 3")}, 10},
		{"a number no failed apply stamps", []runtime.Object{dep("shop", "u1"), rs("b", "shop", "u1", "kubectl zz revision 5000: deploy 3")}, 10},
		{"the largest number", []runtime.Object{dep("shop", "u1"), rs("b", "shop", "u1", "kubectl zz revision 9223372036854775807: deploy 3")}, 10},
		{"failed applies in a row", []runtime.Object{dep("shop", "u1"), rs("b", "shop", "u1", "kubectl zz revision 10: deploy 3"), rs("c", "shop", "u1", "kubectl zz revision 11: deploy 4")}, 12},
		{"another tool's cause", []runtime.Object{dep("shop", "u1"), rs("b", "shop", "u1", "kubectl zz revision 10 went wrong"), rs("d", "shop", "u1", "helm revision 12: x")}, 10},
	}
	history := []*Revision{{Number: 8}, {Number: 9}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(tt.objs...)
			if got := nextNumber(t.Context(), c, ns, "shop", history); got != tt.want {
				t.Errorf("nextNumber = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestRestartAtZero: an app at 0 replicas has no pod to restart;
// restarting it recorded a revision for nothing (an app-developer audit).
// As kubectl rollout restart, it is no error: nothing is applied or recorded.
func TestRestartAtZero(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	if _, err := c.AppsV1().Deployments(ns).Patch(t.Context(), "shop", types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	records := func() int {
		l, err := c.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{LabelSelector: contract.LabelApp + "=shop"})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	before := records()
	res, err := Restart(t.Context(), c, &ChangeConfig{Options: opts(), App: "shop"})
	if err != nil || !res.Unchanged || !res.NoPods {
		t.Fatalf("restart at 0 replicas: %+v, %v; want unchanged, no pods", res, err)
	}
	if after := records(); after != before {
		t.Errorf("%d records before, %d after the refused restart", before, after)
	}
	// What every change refuses is refused at 0 replicas too, not called
	// unchanged (review 36 #10): a Deployment kubectl zz never recorded.
	other := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: ns}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0),
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "reg/legacy:1"}}}}}}
	if _, err := c.AppsV1().Deployments(ns).Create(t.Context(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := Restart(t.Context(), c, &ChangeConfig{Options: opts(), App: "legacy"}); !errors.Is(err, ErrNoRevision) {
		t.Errorf("restart of a Deployment with no records at 0 replicas: %+v, %v; want no recorded revisions", res, err)
	}
}
