package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// touchedLabel is the pod template label the test's mutating admission
// policy adds to every Deployment of its namespace.
const touchedLabel = "policy.example/touched"

// mutateDeployments installs a MutatingAdmissionPolicy and its binding,
// named after ns, that give every Deployment of ns the pod template label
// touchedLabel=yes and imagePullPolicy Always on its first container (as
// Kyverno's autogen rules or Gatekeeper's mutation do), and waits until the
// apiserver applies them. Both are deleted when the test ends.
func mutateDeployments(t *testing.T, ns string) {
	t.Helper()
	api := cluster.Client.AdmissionregistrationV1()
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
				},
			}}},
			FailurePolicy:      ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy: admissionregistrationv1.IfNeededReinvocationPolicy,
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: `Object{
  spec: Object.spec{
    template: Object.spec.template{
      metadata: Object.spec.template.metadata{labels: {"` + touchedLabel + `": "yes"}}
    }
  }
}`},
			}, {
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{
					Expression: `[JSONPatch{op: "add", path: "/spec/template/spec/containers/0/imagePullPolicy", value: "Always"}]`},
			}},
		},
	}
	ctx := context.WithoutCancel(t.Context())
	if _, err := api.MutatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("MutatingAdmissionPolicy: %v", err)
	}
	t.Cleanup(func() {
		if err := api.MutatingAdmissionPolicies().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete the MutatingAdmissionPolicy %s: %v", ns, err)
		}
	})
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: ns,
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}}},
	}
	if _, err := api.MutatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("MutatingAdmissionPolicyBinding: %v", err)
	}
	t.Cleanup(func() {
		if err := api.MutatingAdmissionPolicyBindings().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete the MutatingAdmissionPolicyBinding %s: %v", ns, err)
		}
	})
	probe := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "policy-probe", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"probe": "yes"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"probe": "yes"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.local/probe:1"}}},
			},
		},
	}
	cluster.WaitFor(t, 30*time.Second, "the MutatingAdmissionPolicy to mutate Deployments of "+ns, func(ctx context.Context) (bool, string, error) {
		d, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err.Error(), nil
		}
		touched := touchedBy(d)
		return touched == "", touched, nil
	})
}

// touchedBy is "" when d's pod template holds what mutateDeployments'
// policy sets, else what it holds instead.
func touchedBy(d *appsv1.Deployment) string {
	label, policy := d.Spec.Template.Labels[touchedLabel], d.Spec.Template.Spec.Containers[0].ImagePullPolicy
	if label == "yes" && policy == corev1.PullAlways {
		return ""
	}
	return fmt.Sprintf("label %s=%q, imagePullPolicy %q", touchedLabel, label, policy)
}

// TestDeployUnderMutatingPolicy: a mutating admission policy that changes
// the app's pod template (a label, imagePullPolicy) at every write is not
// drift kubectl zz fights: a deploy of the same spec is unchanged; a
// namespace editor's kubectl patch --field-manager=kubectl-zz adding an env
// var is removed by the next deploy (one note) while the policy's label and
// imagePullPolicy stay; and the deploy after is unchanged again, so a
// take-back's own update, which goes through the policy too, leaves no
// claim that reads as drift (each deploy of the same spec recorded a new
// revision and said it removed what kubectl zz wrote). A server-side apply
// of the Deployment under kubectl zz's name with another image is undone by
// the next deploy; another manager's imagePullPolicy, which the policy sets
// back, is taken back without a claim left.
func TestDeployUnderMutatingPolicy(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	mutateDeployments(t, ns)
	file := shopSpec(t, "1.0", "one", 8080, "")
	deployed := func(when string, unchanged bool, removed int) {
		t.Helper()
		out, errOut, err := zz(t, ns, "deploy", "-f", file, "--timeout", "60s")
		if err != nil || strings.Contains(out, "unchanged") != unchanged || strings.Count(errOut, "removed from") != removed {
			t.Fatalf("deploy %s: %v (want unchanged %v, %d removal notes)\n%s%s", when, err, unchanged, removed, out, errOut)
		}
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if touched := touchedBy(d); touched != "" {
			t.Errorf("the pod template after the deploy %s has %s, not what the policy sets", when, touched)
		}
		for _, e := range d.ManagedFields {
			if e.Manager != "kube-controller-manager" && (e.Manager != "kubectl-zz" || e.Operation != metav1.ManagedFieldsOperationApply) {
				t.Errorf("after the deploy %s, %s (%s) owns %s", when, e.Manager, e.Operation, e.FieldsV1)
			}
		}
		t.Logf("deploy %s:\n%s%s", when, out, errOut)
	}
	deployed("v1", false, 0)
	deployed("of the same spec", true, 0)
	if revs := history(t, ns); len(revs) != 1 {
		t.Fatalf("history = %+v, want one revision", revs)
	}
	dev := editTenant(t, ns)
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"MITM","value":"1"}]}]}}}}`
	if out, err := kubectlAs(t.Context(), dev, "-n", ns, "patch", "deployment", "shop", "--field-manager=kubectl-zz", "-p", patch); err != nil {
		t.Fatalf("kubectl patch as the namespace's editor: %v\n%s", err, out)
	}
	deployed("after the patch", false, 1)
	checkApp(t, ns, "1.0", "one", 8080)
	deployed("after the take-back", true, 0)
	if revs := history(t, ns); len(revs) != 2 {
		t.Errorf("history = %+v, want two revisions (the take-back's)", revs)
	}
	// A server-side apply under kubectl zz's name of the whole Deployment
	// with another image: kubectl zz's apply entry now owns the image (and
	// all the rest), yet the dry run of kubectl zz's apply has its own
	// image: the deploy applies, and the one after is unchanged.
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "registry.local/evil:1"
	body, err := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "shop", "labels": d.Labels, "annotations": d.Annotations}, "spec": d.Spec})
	if err != nil {
		t.Fatal(err)
	}
	applied := filepath.Join(t.TempDir(), "deployment.json")
	if err := os.WriteFile(applied, body, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectlAs(t.Context(), dev, "-n", ns, "apply", "--server-side", "--force-conflicts", "--field-manager=kubectl-zz", "-f", applied); err != nil {
		t.Fatalf("server-side apply under kubectl zz's name: %v\n%s", err, out)
	}
	deployed("after an apply under kubectl zz's name", false, 0)
	checkApp(t, ns, "1.0", "one", 8080)
	deployed("after that", true, 0)
	// Another manager's imagePullPolicy, which the policy sets back to
	// Always: the take-back removes it, the apiserver defaults it before
	// admission sets Always again, so its update owns the field; a second
	// update drops that claim, and the next deploy is unchanged.
	patch = `{"spec":{"template":{"spec":{"containers":[{"name":"app","imagePullPolicy":"Never"}]}}}}`
	if out, err := kubectlAs(t.Context(), dev, "-n", ns, "patch", "deployment", "shop", "--field-manager=kubectl-edit", "-p", patch); err != nil {
		t.Fatalf("kubectl patch of imagePullPolicy: %v\n%s", err, out)
	}
	deployed("after kubectl-edit's imagePullPolicy", false, 1)
	deployed("after its take-back", true, 0)
}
