package logs

import (
	"context"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/zzcloud/zz/internal/contract"
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
