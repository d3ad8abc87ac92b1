package clustercheck

import (
	"context"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
)

// ephemeralSubresource is what kubectl debug writes its containers through.
const ephemeralSubresource = "pods/ephemeralcontainers"

// debugWithoutVoid is what an install without zz-ephemeral-void costs, and
// what to do meanwhile.
const debugWithoutVoid = "kubectl debug's containers get no NVIDIA_VISIBLE_DEVICES=void, so the policy zz-ephemeral-containers " +
	"refuses each one that sets none: debug with kubectl debug --env NVIDIA_VISIBLE_DEVICES=void"

// gatherMutatingPolicies reads zz's MutatingAdmissionPolicies (by the
// part-of label of list) and every binding of one.
func gatherMutatingPolicies(ctx context.Context, c kubernetes.Interface, s *State, list metav1.ListOptions) {
	api := c.AdmissionregistrationV1()
	policies, err := api.MutatingAdmissionPolicies().List(ctx, list)
	if err != nil {
		s.MutatingPoliciesErr = err
		return
	}
	bindings, err := api.MutatingAdmissionPolicyBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		s.MutatingPoliciesErr = err
		return
	}
	s.MutatingPolicies, s.MutatingBindings = policies.Items, bindings.Items
}

// ephemeralVoid judges the MutatingAdmissionPolicy that gives kubectl
// debug's containers void with no webhook: installed and bound. Without it
// nothing is let through (the validating policy refuses), so it warns; with
// no zz policy installed at all, policies' failure says it (and its hint
// installs this one too).
func ephemeralVoid(s *State) []Result {
	if s.PoliciesErr == nil && len(s.Policies) == 0 {
		return nil
	}
	r := Result{Group: GroupPolicies, Name: contract.EphemeralVoidPolicy, Status: Warn,
		Hint: "kubectl apply -k manifests/policies (part of manifests/overlays/default)"}
	err := s.MutatingPoliciesErr
	switch {
	case apierrors.IsNotFound(err):
		// The resource is not served at all: a cluster before 1.36.
		r.Detail = "the apiserver serves no admissionregistration.k8s.io/v1 MutatingAdmissionPolicy (Kubernetes 1.36 and later): " + debugWithoutVoid
		r.Hint = "kubectl api-resources --api-group=admissionregistration.k8s.io"
		return []Result{r}
	case err != nil:
		return []Result{unreadable(GroupPolicies, "MutatingAdmissionPolicies and their bindings", err)}
	case !slices.ContainsFunc(s.MutatingPolicies, func(p admissionregistrationv1.MutatingAdmissionPolicy) bool {
		return p.Name == contract.EphemeralVoidPolicy
	}):
		r.Detail = "no MutatingAdmissionPolicy " + contract.EphemeralVoidPolicy + " labelled " + contract.LabelK8sPartOf + "=" + contract.PartOf + ": " + debugWithoutVoid
	case !slices.ContainsFunc(s.MutatingBindings, func(b admissionregistrationv1.MutatingAdmissionPolicyBinding) bool {
		return b.Spec.PolicyName == contract.EphemeralVoidPolicy
	}):
		r.Detail = "not bound: it changes nothing, and " + debugWithoutVoid
	default:
		r.Status, r.Detail, r.Hint = OK, "bound: kubectl debug's containers get NVIDIA_VISIBLE_DEVICES=void with no webhook", ""
	}
	return []Result{r}
}

// webhookOnDebug warns when a zz webhook that refuses while it is down
// still matches kubectl debug's updates (a configuration from before
// zz-ephemeral-void): debugging then fails in the very incident that needs
// it, in every namespace that webhook serves.
func webhookOnDebug(s *State) []Result {
	var out []Result
	for _, cfg := range s.Webhooks {
		for _, wh := range cfg.Webhooks {
			if wh.FailurePolicy != nil && *wh.FailurePolicy == admissionregistrationv1.Ignore || !matchesDebug(wh.Rules) {
				continue
			}
			out = append(out, Result{Group: GroupWebhook, Name: cfg.Name + " " + wh.Name + " rules", Status: Warn,
				Detail: "it matches " + ephemeralSubresource + " updates with failurePolicy Fail: while the webhook is down, kubectl debug fails in every namespace it serves; " +
					contract.EphemeralVoidPolicy + " gives debug containers void without it",
				Hint: "kubectl apply -k manifests/overlays/default (its configuration matches pods on creation only)"})
		}
	}
	return out
}

// matchesDebug says whether rules send an UPDATE of
// pods/ephemeralcontainers to the webhook.
func matchesDebug(rules []admissionregistrationv1.RuleWithOperations) bool {
	for _, r := range rules {
		ops := slices.ContainsFunc(r.Operations, func(op admissionregistrationv1.OperationType) bool {
			return op == admissionregistrationv1.Update || op == admissionregistrationv1.OperationAll
		})
		core := slices.Contains(r.APIGroups, "") || slices.Contains(r.APIGroups, "*")
		res := slices.ContainsFunc(r.Resources, func(res string) bool {
			return res == ephemeralSubresource || res == "pods/*" || res == "*/*"
		})
		if ops && core && res {
			return true
		}
	}
	return false
}
