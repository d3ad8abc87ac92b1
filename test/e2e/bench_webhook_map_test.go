package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// benchMAPLabel marks the namespace whose pods a MutatingAdmissionPolicy
// mutates in the benchmark: the apiserver's in-process CEL instead of a
// webhook's round trip.
const benchMAPLabel = "zz-bench/map"

// benchMAPMutation is, in CEL, what the zz webhook does to the benchmark's
// pod under webhookPolicy("bench", "0.5"): the pool's node selector, the
// CPU request at half the limit (the pool's overcommit), and the env it
// injects (NUM_CPUS rounded up from the limit, the app group from its label,
// the cluster and environment names). TestBenchWebhook checks that the two
// give the same pod before it measures.
// (The node selector is an atomic map, which an apply configuration may not
// change: a JSON patch sets it.)
const benchMAPSelector = `has(object.spec.nodeSelector) ?
  [JSONPatch{op: "add", path: "/spec/nodeSelector/" + jsonpatch.escapeKey("zz.io/pool"), value: "general"}] :
  [JSONPatch{op: "add", path: "/spec/nodeSelector", value: {"zz.io/pool": "general"}}]`

const benchMAPMutation = `Object{
  spec: Object.spec{
    containers: object.spec.containers.map(c, Object.spec.containers{
      name: c.name,
      env: [
        Object.spec.containers.env{name: "NUM_CPUS", value: string((int(quantity(c.resources.limits["cpu"]).asApproximateFloat() * 1000.0) + 999) / 1000)},
        Object.spec.containers.env{name: "ZZ_APP_GROUP", value: object.metadata.labels["zz.io/group"]},
        Object.spec.containers.env{name: "ZZ_CLUSTER", value: "bench"},
        Object.spec.containers.env{name: "ZZ_ENV", value: "e2e"}
      ],
      resources: Object.spec.containers.resources{
        requests: {"cpu": string(int(quantity(c.resources.limits["cpu"]).asApproximateFloat() * 1000.0) / 2) + "m"}
      }
    })
  }
}`

// startBenchMAP installs the policy and its binding for namespaces labelled
// benchMAPLabel.
func startBenchMAP(t *testing.T) {
	t.Helper()
	name := "zz-bench-map-" + fmt.Sprint(time.Now().UnixNano()%1e9)
	api := cluster.Client.AdmissionregistrationV1()
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				},
			}}},
			FailurePolicy:      ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: benchMAPSelector},
			}, {
				PatchType:          admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: benchMAPMutation},
			}},
		},
	}
	if _, err := api.MutatingAdmissionPolicies().Create(t.Context(), policy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("MutatingAdmissionPolicy: %v", err)
	}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: name,
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{benchMAPLabel: "enabled"}}}},
	}
	if _, err := api.MutatingAdmissionPolicyBindings().Create(t.Context(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("MutatingAdmissionPolicyBinding: %v", err)
	}
	ctx := context.WithoutCancel(t.Context())
	t.Cleanup(func() {
		_ = api.MutatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = api.MutatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{})
	})
}

// sameMutation waits until the policy serves namespace mapNS, then checks
// that it gives the benchmark's pod what the zz webhook gives it in zzNS.
func sameMutation(t *testing.T, zzNS, mapNS string) {
	t.Helper()
	pod := webhookBenchPod()
	var want *corev1.Pod
	cluster.WaitFor(t, 30*time.Second, "the zz webhook's pod", func(ctx context.Context) (bool, string, error) {
		p, err := dryRunPod(ctx, zzNS, pod)
		want = p
		return err == nil, fmt.Sprint(err), nil
	})
	seen := ""
	cluster.WaitFor(t, 30*time.Second, "the MutatingAdmissionPolicy to give the same pod", func(ctx context.Context) (bool, string, error) {
		got, err := dryRunPod(ctx, mapNS, pod)
		if err != nil {
			if seen != err.Error() {
				seen = err.Error()
				t.Logf("the policy's pod: %v", err)
			}
			return false, err.Error(), nil
		}
		a, b := want.Spec.Containers[0], got.Spec.Containers[0]
		same := equality.Semantic.DeepEqual(envOf(a), envOf(b)) && equality.Semantic.DeepEqual(a.Resources, b.Resources) &&
			equality.Semantic.DeepEqual(want.Spec.NodeSelector, got.Spec.NodeSelector) && want.Spec.SchedulerName == got.Spec.SchedulerName
		return same, fmt.Sprintf("zz: env %v, resources %v, selector %v; policy: env %v, resources %v, selector %v",
			envOf(a), a.Resources, want.Spec.NodeSelector, envOf(b), b.Resources, got.Spec.NodeSelector), nil
	})
}
