package webhook

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// errLimitRangesUnread: the LimitRange informer has not listed them yet.
var errLimitRangesUnread = errors.New("zz-webhook has not listed the LimitRanges yet")

// Namespaces answers "which labels does this namespace have" from an
// informer cache, and from a GET when the cache has not seen a namespace
// created a moment ago; and "which LimitRanges does it have" from another
// informer of the same factory, which the CPU overcommit honours
// (inject.WithLimitRanges).
type Namespaces struct {
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	lister  corelisters.NamespaceLister
	synced  cache.InformerSynced
	// limitRanges holds every namespace's LimitRanges, indexed by namespace.
	limitRanges       cache.Indexer
	limitRangesSynced cache.InformerSynced
	// limitRangesRefused is why the apiserver refuses to list them (this
	// webhook's ClusterRole lacks the rule), nil until it does; refusals
	// counts them, and one only counts once it repeats (refusalsToReady).
	limitRangesRefused atomic.Pointer[error]
	refusals           atomic.Int32
}

// refusalsToReady is how many refusals in a row to list the LimitRanges
// make the webhook ready without them: the reflector retries after about
// 0.8, 1.6 and 3.2 s, so a refusal that lasts a few seconds, not the
// moment a chart upgrade's new pod lists before the apiserver's authorizer
// has its new rule (review 36 #9: one such refusal made it ready with the
// clamp off until the next list).
const refusalsToReady = 3

// NewNamespaces prepares the namespace and LimitRange informers; Run
// starts them.
func NewNamespaces(client kubernetes.Interface) *Namespaces {
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().Namespaces()
	lr := f.Core().V1().LimitRanges().Informer()
	n := &Namespaces{client: client, factory: f, lister: inf.Lister(), synced: inf.Informer().HasSynced,
		limitRanges: lr.GetIndexer(), limitRangesSynced: lr.HasSynced}
	_ = lr.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		cache.DefaultWatchErrorHandler(ctx, r, err)
		if apierrors.IsForbidden(err) {
			refused := fmt.Errorf("zz-webhook may not list LimitRanges (its ClusterRole lacks list and watch on limitranges: apply the manifests or the chart whole): %w", err)
			n.limitRangesRefused.Store(&refused)
			n.refusals.Add(1)
		} else {
			n.refusals.Store(0)
		}
	})
	return n
}

// Run starts the informers and waits for their first lists (of the
// LimitRanges, a list or a refusal).
func (n *Namespaces) Run(ctx context.Context) error {
	n.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), n.synced, n.limitRangesKnown) {
		return errors.New("namespace and LimitRange informers did not sync")
	}
	return nil
}

// refused is why the LimitRanges may not be listed, nil while nothing
// refused it or once they are listed (the rule added back).
func (n *Namespaces) refused() error {
	if p := n.limitRangesRefused.Load(); p != nil && n.refusals.Load() >= refusalsToReady && !n.limitRangesSynced() {
		return *p
	}
	return nil
}

func (n *Namespaces) limitRangesKnown() bool { return n.limitRangesSynced() || n.refused() != nil }

// Ready says why reviews cannot be answered yet: the LimitRanges are not
// listed (nil once they are). /readyz waits for it, so a webhook that
// starts takes no review whose CPU requests it cannot check. A refusal to
// list them is ready all the same, said in the detail: every pod of the
// opted-in namespaces waited on a webhook that never became ready (under
// failurePolicy Fail, none was created) for a ClusterRole that lacked the
// rule, where the clamp is only a refinement: each review whose namespace
// may hold a LimitRange is then warned that its requests were not checked
// (a review).
func (n *Namespaces) Ready() (string, error) {
	if err := n.refused(); err != nil {
		return "LimitRanges unread: " + err.Error(), nil
	}
	if !n.limitRangesSynced() {
		return "", errLimitRangesUnread
	}
	return "", nil
}

// Labels returns a namespace's labels.
func (n *Namespaces) Labels(ctx context.Context, name string) (map[string]string, error) {
	ns, err := n.lister.Get(name)
	if apierrors.IsNotFound(err) {
		ns, err = n.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, err
	}
	return ns.Labels, nil
}

// LimitRanges returns a namespace's LimitRanges from the cache; an error
// before the informer's first list. A namespace without any (the common
// case) costs no allocation.
func (n *Namespaces) LimitRanges(namespace string) ([]*corev1.LimitRange, error) {
	if err := n.refused(); err != nil {
		return nil, err
	}
	return limitRangesIn(n.limitRanges, n.limitRangesSynced, namespace)
}

func limitRangesIn(idx cache.Indexer, synced cache.InformerSynced, namespace string) ([]*corev1.LimitRange, error) {
	if !synced() {
		return nil, errLimitRangesUnread
	}
	objs, err := idx.ByIndex(cache.NamespaceIndex, namespace)
	if err != nil || len(objs) == 0 {
		return nil, err
	}
	out := make([]*corev1.LimitRange, 0, len(objs))
	for _, o := range objs {
		if lr, ok := o.(*corev1.LimitRange); ok {
			out = append(out, lr)
		}
	}
	return out, nil
}
