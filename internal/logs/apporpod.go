package logs

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
)

// appOrPod reads Config.App as a pod name when it names no app: no pod in
// any selected namespace carries LabelApp=App, and a pod named App exists
// in one of them. kubectl logs POD and stern POD take a pod name where zz
// takes an app, and a name copied from kubectl get pods would otherwise
// wait for ever for an app of that name. The selection then becomes that
// pod (the rest of -l still applies), and ErrOut says so. Errors are left
// to start, which lists the same namespaces and reports them.
func (m *manager) appOrPod(ctx context.Context) {
	cfg := m.cfg
	if cfg.App == "" || cfg.Selector.Pod != nil {
		return
	}
	found := false
	for i := range cfg.Clusters {
		cl := &cfg.Clusters[i]
		for _, ns := range cl.Namespaces {
			list, err := cl.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: cfg.LabelSelector, Limit: 1})
			if err != nil || len(list.Items) > 0 {
				return // the app has pods (or start will say why not)
			}
			if !found {
				found = podExists(ctx, cl, ns, cfg.App)
			}
			if m.unmatched == "" && scaledToZero(ctx, cl, ns, cfg.App) {
				m.unmatched = fmt.Sprintf("app %s runs 0 replicas in %s, so no pod has logs: kubectl zz scale %s --replicas N starts some", cfg.App, where(cl, ns), cfg.App)
			}
		}
	}
	if !found {
		return
	}
	app := contract.LabelApp + "=" + cfg.App
	if cfg.LabelSelector == app {
		cfg.LabelSelector = ""
	} else {
		cfg.LabelSelector = strings.TrimPrefix(cfg.LabelSelector, app+",")
	}
	cfg.Selector.Pod = regexp.MustCompile("^" + regexp.QuoteMeta(cfg.App) + "$")
	m.note("no app %s; showing pod %s\n", cfg.App, cfg.App)
}

// absentNamespace says in m.unmatched the first selected namespace that
// does not exist (deploy.AbsentNamespace): a typo in -n waited for pods
// that could never come, or said only that no pod matched.
func (m *manager) absentNamespace(ctx context.Context) {
	for i := range m.cfg.Clusters {
		cl := &m.cfg.Clusters[i]
		for _, ns := range cl.Namespaces {
			if why := deploy.AbsentNamespace(ctx, cl.Client, ns); why != "" {
				if cl.Name != "" {
					why = "context " + cl.Name + ": " + why // as kubectl zz's other errors name it
				}
				m.unmatched = why
				return
			}
		}
	}
}

// where names namespace ns of cluster cl in a sentence.
func where(cl *Cluster, ns string) string {
	w := "namespace " + ns
	if cl.Name != "" {
		w += " of context " + cl.Name
	}
	return w
}

// scaledToZero reports whether app's Deployment in namespace ns asks for
// no pod (not for every namespace, nor where it cannot be read).
func scaledToZero(ctx context.Context, cl *Cluster, ns, app string) bool {
	if ns == metav1.NamespaceAll {
		return false
	}
	d, err := cl.Client.AppsV1().Deployments(ns).Get(ctx, app, metav1.GetOptions{})
	return err == nil && d.Spec.Replicas != nil && *d.Spec.Replicas == 0
}

// podExists reports whether a pod of that name is in namespace ns (every
// namespace for "").
func podExists(ctx context.Context, cl *Cluster, ns, name string) bool {
	pods := cl.Client.CoreV1().Pods(ns)
	if ns != metav1.NamespaceAll {
		_, err := pods.Get(ctx, name, metav1.GetOptions{})
		return err == nil
	}
	list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), Limit: 1})
	return err == nil && len(list.Items) > 0
}
