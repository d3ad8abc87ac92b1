package cli

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

func TestSharedRoute(t *testing.T) {
	ingress := func(name, host, path string, zz bool) networkingv1.Ingress {
		ing := networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: path}}}}}}}}
		if zz {
			ing.Labels = map[string]string{contract.LabelK8sManagedBy: contract.ManagedBy, contract.LabelApp: name}
		}
		return ing
	}
	in := &appspec.Ingress{Host: "shop.example.com", Path: "/"}
	for _, tc := range []struct {
		name string
		ings []networkingv1.Ingress
		want string
	}{
		{"none", nil, ""},
		{"the app's own", []networkingv1.Ingress{ingress("store", "shop.example.com", "/", true)}, ""},
		{"another host", []networkingv1.Ingress{ingress("shop", "www.example.com", "/", true)}, ""},
		{"another path", []networkingv1.Ingress{ingress("shop", "shop.example.com", "/api", true)}, ""},
		{"a rule without http", []networkingv1.Ingress{{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "shop.example.com"}}}}}, ""},
		{"the renamed app's old one", []networkingv1.Ingress{ingress("shop", "shop.example.com", "/", true), ingress("store", "shop.example.com", "/", true)},
			"spec.ingress: ingress shop already routes shop.example.com/: with two Ingresses for one host and path the ingress controller refuses this one (ingress-nginx's admission) or serves one of them at its choice; once store serves, delete the other (kubectl zz delete shop), or give spec.ingress another host or path"},
		{"another tool's", []networkingv1.Ingress{ingress("legacy", "shop.example.com", "/", false)},
			"spec.ingress: ingress legacy already routes shop.example.com/: with two Ingresses for one host and path the ingress controller refuses this one (ingress-nginx's admission) or serves one of them at its choice; once store serves, delete the other (kubectl delete ingress legacy), or give spec.ingress another host or path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sharedRoute(tc.ings, "store", in); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
