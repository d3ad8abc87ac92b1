package cli

import (
	"cmp"
	"context"
	"slices"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/informers/internalinterfaces"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
)

// statusRefresh is how often --watch reads again, without being told of a
// change, what it keeps no informer of (a Service's drift, a quota's
// refusal).
const statusRefresh = 30 * time.Second

// watching keeps, for one target, informers of what status reads most (the
// apps' Deployments, pods and revision records' metadata), as kubectl get
// -w keeps one list and its watch: a change is read from memory, not by
// listing a busy namespace again (a scale audit: 9 MB a read, every second
// under churn). It is the target's deploy.Reader; a kind not (yet) in
// memory is listed from the apiserver.
type watching struct {
	live                deploy.Reader
	deps, pods, records *informed
	// judge keeps each object's drift judgement while its resourceVersion
	// stays: a change of one object costs that object's judgement alone.
	judge *deploy.DriftJudge
}

// Judge is the DriftJudge kept for the whole watch.
func (w *watching) Judge() *deploy.DriftJudge { return w.judge }

// informed is one informer and what its reflector said.
type informed struct {
	inf cache.SharedIndexInformer
	// erred: the list or watch failed at least once (the apiserver away,
	// or a right missing); polled: a right is missing, so the kind is
	// listed at each read, and read again every --interval unless denied:
	// the list is refused too (the view role's Secrets), so no read would
	// show more.
	erred, polled, denied atomic.Bool
}

// read lists the kind with live while it is not read from memory.
func read[T any](ctx context.Context, i *informed, live func(context.Context) ([]T, error)) ([]T, error) {
	out, err := live(ctx)
	if i != nil && i.polled.Load() {
		i.denied.Store(apierrors.IsForbidden(err))
	}
	return out, err
}

// usable says whether the kind is read from memory.
func (i *informed) usable() bool {
	return i != nil && i.inf.HasSynced() && !i.polled.Load()
}

// settled says whether the informer has its first list or has failed one.
func (i *informed) settled() bool {
	return i == nil || i.inf.HasSynced() || i.erred.Load()
}

// watchTarget starts t's informers until ctx ends; notify is called on
// every change.
func (o *StatusOptions) watchTarget(ctx context.Context, t target, notify func()) *watching {
	ns := o.readNamespace(t)
	sel, podSel := deploy.StatusSelectors(o.App)
	by := func(s string) internalinterfaces.TweakListOptionsFunc {
		return func(lo *metav1.ListOptions) { lo.LabelSelector = s }
	}
	w := &watching{live: deploy.Live(t.client), judge: deploy.NewDriftJudge()}
	w.deps = &informed{inf: appsinformers.NewFilteredDeploymentInformer(t.client, ns, 0, cache.Indexers{}, by(sel))}
	w.pods = &informed{inf: coreinformers.NewFilteredPodInformer(t.client, ns, 0, cache.Indexers{}, by(podSel))}
	// Status reads no pod's managed fields: keep them out of memory.
	_ = w.pods.inf.SetTransform(func(obj any) (any, error) {
		if m, err := meta.Accessor(obj); err == nil {
			m.SetManagedFields(nil)
		}
		return obj, nil
	})
	if md := t.metadataClient(); md != nil {
		// The records' metadata only: their data (every rendered object)
		// is most of their bytes and status reads none of it.
		w.records = &informed{inf: metadatainformer.NewFilteredMetadataInformer(md, corev1.SchemeGroupVersion.WithResource("secrets"), ns, 0, cache.Indexers{},
			func(lo *metav1.ListOptions) {
				lo.LabelSelector, lo.FieldSelector = sel, "type="+contract.SecretTypeRevision
			}).Informer()}
	}
	// client-go's reflectors log a broken watch at level 0: a CLI prints
	// them only from -v 2.
	ctx = klog.NewContext(ctx, klog.FromContext(ctx).V(2))
	for _, i := range []*informed{w.deps, w.pods, w.records} {
		if i == nil {
			continue
		}
		_, _ = i.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { notify() },
			UpdateFunc: func(any, any) { notify() },
			DeleteFunc: func(any) { notify() },
		})
		ictx, cancel := context.WithCancel(ctx)
		_ = i.inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			i.erred.Store(true)
			if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsMethodNotSupported(err) {
				// Listed (or not) but not watchable by this user: read it
				// at each read, every --interval (a failed list says why).
				i.polled.Store(true)
				cancel()
			}
			notify()
		})
		go i.inf.RunWithContext(ictx)
	}
	return w
}

// metadataClient is the target's client for objects' metadata only; nil
// without a kubeconfig (unit tests' fakes, unless they set meta).
func (t *target) metadataClient() metadata.Interface {
	if t.meta != nil || t.flags == nil {
		return t.meta
	}
	cfg, err := t.flags.ToRESTConfig()
	if err != nil {
		return nil
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = defaultQPS, defaultBurst
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil
	}
	return md
}

// polls says whether a kind is listable but not watchable: read every
// --interval.
func (w *watching) polls() bool {
	return slices.ContainsFunc([]*informed{w.deps, w.pods, w.records}, func(i *informed) bool {
		return i != nil && i.polled.Load() && !i.denied.Load()
	})
}

// settled says whether every informer has its first list or failed one.
func (w *watching) settled() bool {
	return w.deps.settled() && w.pods.settled() && w.records.settled()
}

func (w *watching) Deployments(ctx context.Context, ns, sel string) ([]appsv1.Deployment, error) {
	return fromInformer(ctx, w.deps, ns, sel, w.live.Deployments, deref[appsv1.Deployment])
}

func (w *watching) Pods(ctx context.Context, ns, sel string) ([]corev1.Pod, error) {
	return fromInformer(ctx, w.pods, ns, sel, w.live.Pods, deref[corev1.Pod])
}

func (w *watching) Records(ctx context.Context, ns, sel string) ([]corev1.Secret, error) {
	return fromInformer(ctx, w.records, ns, sel, w.live.Records, func(o any) (corev1.Secret, bool) {
		m, ok := o.(*metav1.PartialObjectMetadata)
		if !ok {
			return corev1.Secret{}, false
		}
		return corev1.Secret{ObjectMeta: m.ObjectMeta, Type: contract.SecretTypeRevision}, true
	})
}

// fromInformer is what i holds in ns matching sel (as), or the live list
// while i is not usable.
func fromInformer[T any](ctx context.Context, i *informed, ns, sel string, live func(context.Context, string, string) ([]T, error), as func(any) (T, bool)) ([]T, error) {
	if !i.usable() {
		return read(ctx, i, func(ctx context.Context) ([]T, error) { return live(ctx, ns, sel) })
	}
	return stored(i, ns, sel, as)
}

// deref is the T an informer's *T holds.
func deref[T any](o any) (T, bool) {
	p, ok := o.(*T)
	if !ok {
		var zero T
		return zero, false
	}
	return *p, true
}

// stored is what i holds in ns (every namespace for "") matching sel,
// sorted by namespace and name as a list returns it. The objects are the
// informer's: read, never written.
func stored[T any](i *informed, ns, sel string, as func(any) (T, bool)) ([]T, error) {
	s, err := labels.Parse(sel)
	if err != nil {
		return nil, err
	}
	type item struct {
		key string
		obj T
	}
	var items []item
	for _, o := range i.inf.GetStore().List() {
		m, err := meta.Accessor(o)
		if err != nil || (ns != "" && m.GetNamespace() != ns) || !s.Matches(labels.Set(m.GetLabels())) {
			continue
		}
		if t, ok := as(o); ok {
			items = append(items, item{m.GetNamespace() + "/" + m.GetName(), t})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.key, b.key) })
	out := make([]T, len(items))
	for j, it := range items {
		out[j] = it.obj
	}
	return out, nil
}
