package webhook

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Namespaces answers "which labels does this namespace have" from an
// informer cache, and from a GET when the cache has not seen a namespace
// created a moment ago.
type Namespaces struct {
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	lister  corelisters.NamespaceLister
	synced  cache.InformerSynced
}

// NewNamespaces prepares the namespace informer; Run starts it.
func NewNamespaces(client kubernetes.Interface) *Namespaces {
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().Namespaces()
	return &Namespaces{client: client, factory: f, lister: inf.Lister(), synced: inf.Informer().HasSynced}
}

// Run starts the informer and waits for its first list.
func (n *Namespaces) Run(ctx context.Context) error {
	n.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), n.synced) {
		return errors.New("namespace informer did not sync")
	}
	return nil
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
