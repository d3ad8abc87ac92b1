package clustercheck

import (
	"context"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// gatherNetworkPolicies reads the NetworkPolicies of each namespace where a
// zz webhook Deployment runs (none is read when the webhook runs outside
// the cluster).
func gatherNetworkPolicies(ctx context.Context, c kubernetes.Interface, s *State) {
	for _, d := range s.Deployments {
		if !isWebhook(d) || s.NetworkPolicies[d.Namespace] != nil {
			continue
		}
		if s.NetworkPolicies == nil {
			s.NetworkPolicies = map[string][]networkingv1.NetworkPolicy{}
		}
		l, err := c.NetworkingV1().NetworkPolicies(d.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			s.NetworkPoliciesErr = err
			return
		}
		s.NetworkPolicies[d.Namespace] = append(make([]networkingv1.NetworkPolicy, 0, len(l.Items)), l.Items...)
	}
}

// webhookIsolation warns of each zz webhook Deployment whose pods no
// NetworkPolicy isolates for ingress: every pod of the cluster then
// reaches its review port. One pod's idle connections can no longer keep
// the apiserver out (internal/serve's fair listener), but a tenant with as
// many pods as the webhook has connection slots still could, and every pod
// creation of the opted-in namespaces would fail its webhook call.
func webhookIsolation(s *State) []Result {
	if s.NetworkPoliciesErr != nil {
		return []Result{unreadable(GroupWebhook, "the NetworkPolicies of the webhook's namespace", s.NetworkPoliciesErr)}
	}
	var out []Result
	for _, d := range s.Deployments {
		if !isWebhook(d) {
			continue
		}
		r := Result{Group: GroupWebhook, Name: "Deployment " + d.Namespace + "/" + d.Name + " network isolation", Status: OK}
		np, ok := isolating(s.NetworkPolicies[d.Namespace], d)
		switch {
		case ok:
			r.Detail = "NetworkPolicy " + np + " selects its pods: only what it allows reaches the review port"
		case np != "":
			r.Status = Warn
			r.Detail = "NetworkPolicy " + np + " selects its pods but allows every source: every pod of the cluster reaches its review port, and a tenant with as many pods as its connection slots (512) could keep the apiserver's calls out, failing every pod creation of the opted-in namespaces"
			r.Hint = "narrow that policy's ingress to the apiserver (manifests/components/network-policy shows the rule; Helm: networkPolicy.enabled=true)"
		default:
			r.Status = Warn
			r.Detail = "no NetworkPolicy selects its pods: every pod of the cluster reaches its review port, and a tenant with as many pods as its connection slots (512) could keep the apiserver's calls out, failing every pod creation of the opted-in namespaces"
			r.Hint = "kubectl apply -k manifests/components/network-policy with your pod CIDR set in it (Helm: --set networkPolicy.enabled=true,networkPolicy.podCIDR=CIDR); the network plugin must enforce NetworkPolicy"
		}
		out = append(out, r)
	}
	return out
}

// isolating names a NetworkPolicy of nps that isolates d's pods for
// ingress. Policies add up, so one that selects them and allows every
// source (ingress: [{}], or an empty namespaceSelector) opens them whatever
// the others say: then it is named, not ok (review 36 #7: an allow-all
// policy silenced the warning). A rule open to all on another port (the
// metrics port, for Prometheus) leaves the review port isolated (review 37
// #6).
func isolating(nps []networkingv1.NetworkPolicy, d appsv1.Deployment) (name string, ok bool) {
	for _, np := range nps {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			continue
		}
		// No policyTypes means Ingress (and Egress when egress rules are given).
		if len(np.Spec.PolicyTypes) > 0 && !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		if slices.ContainsFunc(np.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool {
			return allowsEverySource(r) && opensReviewPort(r, d)
		}) {
			return np.Name, false
		}
		if name == "" {
			name, ok = np.Name, true
		}
	}
	return name, ok
}

// allowsEverySource reports whether an ingress rule lets every pod (and
// address) in: no from, or a peer of every namespace's every pod, or an
// ipBlock of the whole address space with nothing excepted.
func allowsEverySource(rule networkingv1.NetworkPolicyIngressRule) bool {
	if len(rule.From) == 0 {
		return true
	}
	return slices.ContainsFunc(rule.From, func(p networkingv1.NetworkPolicyPeer) bool {
		switch {
		case p.IPBlock != nil:
			return len(p.IPBlock.Except) == 0 && (p.IPBlock.CIDR == "0.0.0.0/0" || p.IPBlock.CIDR == "::/0")
		case p.NamespaceSelector != nil:
			return isEmpty(p.NamespaceSelector) && (p.PodSelector == nil || isEmpty(p.PodSelector))
		}
		return false
	})
}

// opensReviewPort reports whether an ingress rule reaches d's review port:
// it names no port, or one of d's containers' ports but the health and
// metrics ones (by number, range or name, over TCP); any port where d
// declares none.
func opensReviewPort(rule networkingv1.NetworkPolicyIngressRule, d appsv1.Deployment) bool {
	var review []corev1.ContainerPort
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name != "health" && p.Name != "metrics" {
				review = append(review, p)
			}
		}
	}
	if len(rule.Ports) == 0 || len(review) == 0 {
		return true
	}
	return slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			return false
		}
		if p.Port == nil {
			return true // every port
		}
		return slices.ContainsFunc(review, func(cp corev1.ContainerPort) bool {
			if p.Port.Type == intstr.String {
				return p.Port.StrVal == cp.Name
			}
			return p.Port.IntVal == cp.ContainerPort || p.EndPort != nil && p.Port.IntVal <= cp.ContainerPort && cp.ContainerPort <= *p.EndPort
		})
	})
}

// isEmpty reports whether s selects everything.
func isEmpty(s *metav1.LabelSelector) bool {
	return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}
