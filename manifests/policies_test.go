package manifests

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// reservedPodKeys are the pod annotations of the GPU protocol that only zz's
// extender and device plugin write.
var reservedPodKeys = []string{
	contract.AnnotationGPUIndexes, contract.AnnotationGPUUUIDs, contract.AnnotationGPUMemMiB,
	contract.AnnotationGPUAssumeTime, contract.AnnotationGPUAssigned, contract.AnnotationContainerGPU,
	contract.AnnotationGPUMemUsed, contract.AnnotationGPUNomination, contract.AnnotationGPUAssumeNode,
}

// policyFiles are the files of manifests/policies and the contract keys
// each must name, no more.
var policyFiles = map[string][]string{
	"policies/pods.yaml":      reservedPodKeys,
	"policies/agents.yaml":    reservedPodKeys,
	"policies/templates.yaml": reservedPodKeys,
	"policies/nodes.yaml":     {contract.AnnotationNodeGPUInventory},
	"policies/quota.yaml":     {string(contract.ResourceGPUMem), string(contract.ResourceGPU), string(contract.ResourceGPUMemTotal), contract.LabelInjection},
}

var quotedZZKey = regexp.MustCompile(`'(` + regexp.QuoteMeta(contract.Prefix) + `[a-z-]+)'`)

// TestPoliciesNameTheContractsKeys keeps the CEL of the policies on the
// contract's annotation names: a key renamed in internal/contract and not
// here would silently stop being protected.
func TestPoliciesNameTheContractsKeys(t *testing.T) {
	for file, want := range policyFiles {
		var got []string
		for _, d := range docs(t, file) {
			for _, m := range quotedZZKey.FindAllStringSubmatch(string(d), -1) {
				if !slices.Contains(got, m[1]) {
					got = append(got, m[1])
				}
			}
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want))
		if !slices.Equal(got, w) {
			t.Errorf("%s names %v in its CEL; the contract's keys are %v", file, got, w)
		}
	}
}

// TestQuotaPolicyNamesTheContractsEnv keeps the GPU pod env and
// annotations zz-gpu-mem-total refuses on the contract's names.
func TestQuotaPolicyNamesTheContractsEnv(t *testing.T) {
	var all strings.Builder
	for _, d := range docs(t, "policies/quota.yaml") {
		all.Write(d)
	}
	for _, want := range []string{"'" + contract.EnvVisibleDevices + "'", "'" + contract.EnvMPSPinnedMemLimit + "'", "'" + contract.EnvMPSThreadPercentage + "'",
		"'" + contract.VisibleDevicesVoid + "'", "'" + contract.VisibleDevicesNone + "'"} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("policies/quota.yaml does not name %s in its CEL", want)
		}
	}
	// forgedEnvFrom's list is the names Allocate sets, in the contract's order.
	var list []string
	for _, n := range contract.DevicePluginEnv {
		list = append(list, "'"+n+"'")
	}
	if want := "[" + strings.Join(list, ", ") + "]"; !strings.Contains(all.String(), want) {
		t.Errorf("policies/quota.yaml does not list %s (contract.DevicePluginEnv) for envFrom", want)
	}
}

// TestCDIPolicyAgreesWithContract runs zz-cdi-annotations' key pattern (RE2,
// as CEL's matches uses) on keys and wants contract.IsCDIAnnotation's
// verdict, which the webhook uses: cdi.k8s.io/ and every subdomain's.
func TestCDIPolicyAgreesWithContract(t *testing.T) {
	var all strings.Builder
	for _, d := range docs(t, "policies/quota.yaml") {
		all.Write(d)
	}
	m := celRawRegex.FindAllStringSubmatch(all.String(), -1)
	if len(m) != 1 {
		t.Fatalf("quota.yaml has %d matches(r'...') patterns, want 1 (zz-cdi-annotations' keys)", len(m))
	}
	pattern := regexp.MustCompile(m[0][1])
	for _, key := range []string{"cdi.k8s.io/grab", "nvidia.cdi.k8s.io/container.app", "a.b.cdi.k8s.io/x",
		"cdi.k8s.io", "xcdi.k8s.io/grab", "cdi.k8s.io.evil/x", "k8s.io/cdi.k8s.io/x", "zz.io/gpu-indexes", "team"} {
		if got, want := pattern.MatchString(key), contract.IsCDIAnnotation(key); got != want {
			t.Errorf("policy on annotation %q: refused %v, the webhook (contract.IsCDIAnnotation) %v", key, got, want)
		}
	}
}

// TestPoliciesNameTheShippedServiceAccounts keeps the user names in the CEL
// equal to the ServiceAccounts the extender and the device plugin run as.
func TestPoliciesNameTheShippedServiceAccounts(t *testing.T) {
	user := func(file, name string) string {
		var sa corev1.ServiceAccount
		object(t, file, "ServiceAccount", name, &sa)
		return fmt.Sprintf("system:serviceaccount:%s:%s", sa.Namespace, sa.Name)
	}
	var dep appsv1.Deployment
	object(t, "scheduler/scheduler.yaml", "Deployment", "", &dep)
	var ds appsv1.DaemonSet
	object(t, "deviceplugin/daemonset.yaml", "DaemonSet", "zz-device-plugin", &ds)
	extender := user("scheduler/rbac.yaml", dep.Spec.Template.Spec.ServiceAccountName)
	devicePlugin := user("deviceplugin/rbac.yaml", ds.Spec.Template.Spec.ServiceAccountName)
	users := regexp.MustCompile(`system:serviceaccount:[a-z0-9-]+:[a-z0-9-]+`)
	for file := range policyFiles {
		for _, d := range docs(t, file) {
			for _, u := range users.FindAllString(string(d), -1) {
				if u != extender && u != devicePlugin {
					t.Errorf("%s names %s; the extender runs as %s, the device plugin as %s", file, u, extender, devicePlugin)
				}
			}
		}
	}
}

// TestPoliciesAreBoundAndShipped: every policy has a binding that denies,
// fails closed, and is part of what the overlays install.
func TestPoliciesAreBoundAndShipped(t *testing.T) {
	var kust struct {
		Resources []string `json:"resources"`
	}
	object(t, "policies/kustomization.yaml", "Kustomization", "", &kust)
	if len(kust.Resources) != len(policyFiles) {
		t.Errorf("policies/kustomization.yaml lists %v; this test knows %d files", kust.Resources, len(policyFiles))
	}
	var all struct {
		Resources []string `json:"resources"`
	}
	object(t, "all/kustomization.yaml", "Kustomization", "", &all)
	if !slices.Contains(all.Resources, "../policies") {
		t.Errorf("manifests/all does not install ../policies: %v", all.Resources)
	}
	for _, f := range kust.Resources {
		file := "policies/" + f
		var p admissionregistrationv1.ValidatingAdmissionPolicy
		object(t, file, "ValidatingAdmissionPolicy", "", &p)
		var b admissionregistrationv1.ValidatingAdmissionPolicyBinding
		object(t, file, "ValidatingAdmissionPolicyBinding", p.Name, &b)
		if b.Spec.PolicyName != p.Name || !slices.Equal(b.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
			t.Errorf("%s: binding %s for policy %q with actions %v; want %s, [Deny]", file, b.Name, b.Spec.PolicyName, b.Spec.ValidationActions, p.Name)
		}
		if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionregistrationv1.Fail {
			t.Errorf("%s: failurePolicy %v; want Fail (a policy that cannot evaluate refuses)", file, p.Spec.FailurePolicy)
		}
		for _, v := range p.Spec.Validations {
			if v.Reason == nil || *v.Reason != "Forbidden" || (v.Message == "" && v.MessageExpression == "") {
				t.Errorf("%s: validation %q has no Forbidden reason or no message", file, v.Expression)
			}
		}
	}
}

// TestWebhookConfigurationExcludesSystemNamespaces: the apiserver itself
// never sends zz-webhook a pod of kube-system or of zz's own namespaces.
func TestWebhookConfigurationExcludesSystemNamespaces(t *testing.T) {
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	object(t, "webhook/webhook.yaml", "MutatingWebhookConfiguration", "", &mwc)
	var ds appsv1.DaemonSet
	object(t, "deviceplugin/daemonset.yaml", "DaemonSet", "zz-device-plugin", &ds)
	for _, w := range mwc.Webhooks {
		sel := w.NamespaceSelector
		if sel == nil || sel.MatchLabels[contract.LabelInjection] != contract.InjectionEnabled {
			t.Errorf("webhook %s: namespace selector %v does not require %s=%s", w.Name, sel, contract.LabelInjection, contract.InjectionEnabled)
			continue
		}
		var excluded []string
		for _, e := range sel.MatchExpressions {
			if e.Key == corev1.LabelMetadataName && e.Operator == "NotIn" {
				excluded = append(excluded, e.Values...)
			}
		}
		for _, ns := range []string{"kube-system", w.ClientConfig.Service.Namespace, ds.Namespace} {
			if !slices.Contains(excluded, ns) {
				t.Errorf("webhook %s: namespace %s is not excluded by %s NotIn (%v)", w.Name, ns, corev1.LabelMetadataName, excluded)
			}
		}
	}
}

// TestQuotaPolicyKnowsWhereTheWebhookServes: the quota policy judges a
// workload's template only where the webhook will not set the total on its
// pods, so its idea of a served namespace must be the webhook's selector:
// the same label and value, and the same excluded namespaces.
func TestQuotaPolicyKnowsWhereTheWebhookServes(t *testing.T) {
	var p admissionregistrationv1.ValidatingAdmissionPolicy
	object(t, "policies/quota.yaml", "ValidatingAdmissionPolicy", "", &p)
	var judged string
	for _, v := range p.Spec.Variables {
		if v.Name == "judged" {
			judged = v.Expression
		}
	}
	want := fmt.Sprintf("labels[?'%s'].orValue('') != '%s'", contract.LabelInjection, contract.InjectionEnabled)
	if !strings.Contains(judged, want) {
		t.Errorf("variable judged %q does not test %s", judged, want)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	object(t, "webhook/webhook.yaml", "MutatingWebhookConfiguration", "", &mwc)
	for _, w := range mwc.Webhooks {
		for _, e := range w.NamespaceSelector.MatchExpressions {
			if e.Key != corev1.LabelMetadataName || e.Operator != "NotIn" {
				continue
			}
			list := "namespaceObject.metadata.name in ['" + strings.Join(e.Values, "', '") + "']"
			if !strings.Contains(judged, list) {
				t.Errorf("variable judged %q does not hold %s (webhook %s excludes %v)", judged, list, w.Name, e.Values)
			}
		}
	}
}

// TestWebhookServingLimits: the Deployment gives the container's memory
// limit to the Go runtime, serves probes and /metrics on the health port
// (not the serving one), and the optional NetworkPolicy opens exactly the
// container's ports.
func TestWebhookServingLimits(t *testing.T) {
	var dep appsv1.Deployment
	object(t, "webhook/webhook.yaml", "Deployment", "zz-webhook", &dep)
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Resources.Limits.Memory().IsZero() {
		t.Fatal("the webhook container has no memory limit")
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "MEMORY_LIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil &&
			e.ValueFrom.ResourceFieldRef.Resource == "limits.memory" && e.ValueFrom.ResourceFieldRef.ContainerName == c.Name
	}) {
		t.Errorf("no MEMORY_LIMIT from the downward API (limits.memory of %s): %+v", c.Name, c.Env)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, fmt.Sprintf("--listen-address=:%d", ports["https"])) || !strings.Contains(args, fmt.Sprintf("--health-address=:%d", ports["health"])) {
		t.Errorf("args %q do not serve the ports %v", args, ports)
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "health" || p.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			t.Errorf("probe %+v is not on the health port", p)
		}
	}
	var np networkingv1.NetworkPolicy
	object(t, "components/network-policy/networkpolicy.yaml", "NetworkPolicy", "zz-webhook", &np)
	if np.Namespace != dep.Namespace || !mapsSubset(np.Spec.PodSelector.MatchLabels, dep.Spec.Template.Labels) {
		t.Errorf("the NetworkPolicy selects %v in %s; the webhook pods are %v in %s", np.Spec.PodSelector.MatchLabels, np.Namespace, dep.Spec.Template.Labels, dep.Namespace)
	}
	opened := map[int32]bool{}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			opened[p.Port.IntVal] = true
		}
	}
	if len(opened) != len(ports) || !opened[ports["https"]] || !opened[ports["health"]] {
		t.Errorf("the NetworkPolicy opens %v; the container serves %v", opened, ports)
	}
}

func mapsSubset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return len(sub) > 0
}

// TestEphemeralVoidPolicy: the MutatingAdmissionPolicy that gives kubectl
// debug's containers NVIDIA_VISIBLE_DEVICES=void bears the name kubectl zz
// check looks for, is bound, and matches exactly what the validating policy
// zz-ephemeral-containers judges (the same updates, the same namespaces:
// debugging needs no flag wherever void is required); the webhook is no
// longer called for those updates, so debugging needs no webhook either.
// What its CEL does is TestEphemeralContainersPolicies' (internal/inject).
func TestEphemeralVoidPolicy(t *testing.T) {
	const file = "policies/quota.yaml"
	var mp admissionregistrationv1.MutatingAdmissionPolicy
	object(t, file, "MutatingAdmissionPolicy", contract.EphemeralVoidPolicy, &mp)
	var b admissionregistrationv1.MutatingAdmissionPolicyBinding
	object(t, file, "MutatingAdmissionPolicyBinding", contract.EphemeralVoidPolicy, &b)
	if b.Spec.PolicyName != mp.Name || b.Spec.MatchResources != nil {
		t.Errorf("binding %s: policy %q, match resources %+v; want %s for everything the policy matches", b.Name, b.Spec.PolicyName, b.Spec.MatchResources, mp.Name)
	}
	var vp admissionregistrationv1.ValidatingAdmissionPolicy
	object(t, file, "ValidatingAdmissionPolicy", "zz-ephemeral-containers", &vp)
	if !reflect.DeepEqual(mp.Spec.MatchConstraints, vp.Spec.MatchConstraints) || !reflect.DeepEqual(mp.Spec.MatchConditions, vp.Spec.MatchConditions) {
		t.Errorf("%s matches %+v if %+v; %s judges %+v if %+v", mp.Name, mp.Spec.MatchConstraints, mp.Spec.MatchConditions,
			vp.Name, vp.Spec.MatchConstraints, vp.Spec.MatchConditions)
	}
	// The validating policy is the guard: it fails closed, and the
	// mutating one may fail open (its message then says what to add).
	if vp.Spec.FailurePolicy == nil || *vp.Spec.FailurePolicy != admissionregistrationv1.Fail {
		t.Errorf("%s: failurePolicy %v, want Fail", vp.Name, vp.Spec.FailurePolicy)
	}
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	object(t, "webhook/webhook.yaml", "MutatingWebhookConfiguration", "", &mwc)
	for _, w := range mwc.Webhooks {
		for _, r := range w.Rules {
			for _, res := range r.Resources {
				if strings.HasPrefix(res, "pods/") || strings.Contains(res, "*") {
					t.Errorf("webhook %s matches %s %v: with failurePolicy %v, kubectl debug would fail while it is down", w.Name, res, r.Operations, *w.FailurePolicy)
				}
			}
		}
	}
}
