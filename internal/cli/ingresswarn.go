package cli

import (
	"context"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// ingressWarning says that another Ingress in t's namespace routes the
// host and path spec.ingress asks for (sharedRoute). "" when the spec has
// no Ingress, none shares the route, or the user may not list Ingresses
// (not judged).
func (o *DeployOptions) ingressWarning(ctx context.Context, t target) string {
	in := o.app.Spec.Ingress
	if in == nil {
		return ""
	}
	ings, err := t.client.NetworkingV1().Ingresses(t.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	return sharedRoute(ings.Items, o.app.Name, in)
}

// sharedRoute says which of ings, other than app's own (of its name), route
// in's host and path, and what then happens: two Ingresses for one host and
// path are refused by ingress-nginx's admission ("host and path already
// defined") or served by one of them at the controller's choice. A rename
// (the spec deployed under a new name beside the old app) made the second
// unsaid (an adoption audit). "" when none does.
func sharedRoute(ings []networkingv1.Ingress, app string, in *appspec.Ingress) string {
	var names []string
	owner := map[string]string{} // an Ingress's app, where kubectl zz made it
	for _, ing := range ings {
		if ing.Name == app || !routes(ing, in.Host, in.Path) {
			continue
		}
		names = append(names, ing.Name)
		if ing.Labels[contract.LabelK8sManagedBy] == contract.ManagedBy {
			owner[ing.Name] = ing.Labels[contract.LabelApp]
		}
	}
	if len(names) == 0 {
		return ""
	}
	del := "kubectl delete ingress " + names[0]
	if other := owner[names[0]]; other != "" {
		del = "kubectl zz delete " + other
	}
	return fmt.Sprintf("spec.ingress: ingress %s already routes %s%s: with two Ingresses for one host and path the ingress controller refuses this one (ingress-nginx's admission) or serves one of them at its choice; once %s serves, delete the other (%s), or give spec.ingress another host or path",
		strings.Join(names, ", "), in.Host, in.Path, app, del)
}

// routes says whether ing has a rule for host with path among its paths.
func routes(ing networkingv1.Ingress, host, path string) bool {
	for _, r := range ing.Spec.Rules {
		if r.Host != host || r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if p.Path == path {
				return true
			}
		}
	}
	return false
}
