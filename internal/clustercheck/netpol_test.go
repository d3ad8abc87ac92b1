package clustercheck

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestIsolatingPorts: a rule open to every source opens the review port
// only where it names no port or one of the webhook's serving ports (by
// number, range or name, over TCP): a policy that admits the apiserver to
// 8443 and Prometheus to the health port from every namespace isolates
// (review 37 #6: check said every pod reached the review port).
func TestIsolatingPorts(t *testing.T) {
	d := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook", Namespace: "zz-system"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: webhookPodLabels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "webhook", Ports: []corev1.ContainerPort{
				{Name: "https", ContainerPort: 8443}, {Name: "health", ContainerPort: 8893}}}}}}}}
	apiserver := networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.244.0.0/16"}}}},
		Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(8443))}}}
	open := func(ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyIngressRule {
		return networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}, Ports: ports}
	}
	for _, tt := range []struct {
		name string
		rule networkingv1.NetworkPolicyIngressRule
		ok   bool
	}{
		{"open on the health port", open(networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromInt32(8893))}), true},
		{"open on the health port by name", open(networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromString("health"))}), true},
		{"open on UDP 8443", open(networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(8443))}), true},
		{"open on every port", open(), false},
		{"open on the review port", open(networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromInt32(8443))}), false},
		{"open on the review port by name", open(networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromString("https"))}), false},
		{"open on a range over it", open(networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromInt32(8000)), EndPort: ptr.To[int32](9000)}), false},
		{"open on any port of TCP", open(networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP)}), false},
	} {
		np := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "zz-webhook", Namespace: "zz-system"},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: webhookPodLabels},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, Ingress: []networkingv1.NetworkPolicyIngressRule{apiserver, tt.rule}}}
		if name, ok := isolating([]networkingv1.NetworkPolicy{np}, d); ok != tt.ok || name != "zz-webhook" {
			t.Errorf("%s: isolating = %q, %v; want %v", tt.name, name, ok, tt.ok)
		}
	}
}
