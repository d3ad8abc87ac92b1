package webhook

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/inject"
)

// Event reasons on the policy ConfigMap.
const (
	ReasonPolicyLoaded  = "PolicyLoaded"
	ReasonPolicyInvalid = "PolicyInvalid"
	// ReasonPolicyScheduler warns of a scheduler name that is neither
	// zz-scheduler nor the default scheduler: legitimate, or a typo that
	// leaves every pod it routes Pending.
	ReasonPolicyScheduler = "PolicyUnknownScheduler"
)

// PolicyStore holds the policy in force: the last valid one the ConfigMap
// held. An invalid update keeps it and is reported in the log, as an event on
// the ConfigMap and in /readyz.
type PolicyStore struct {
	Source   types.NamespacedName
	Recorder record.EventRecorder // may be nil
	Now      func() time.Time

	mu       sync.RWMutex
	policy   *inject.Policy
	loadedAt time.Time
	version  string // the ConfigMap's resourceVersion in force
	lastErr  error
	listed   bool // the informer's first list is in

	loads *prometheus.CounterVec
}

// NewPolicyStore returns an empty store for the ConfigMap at source.
func NewPolicyStore(source types.NamespacedName, recorder record.EventRecorder) *PolicyStore {
	return &PolicyStore{Source: source, Recorder: recorder, Now: time.Now,
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zz_webhook_policy_loads_total", Help: "Policy ConfigMap updates by result (ok, invalid, deleted).",
		}, []string{"result"})}
}

// Collectors are the store's metrics: the loads by result, and whether
// the ConfigMap's latest version is the policy in force. That gauge is 0
// while the latest version was refused (or the ConfigMap deleted): the
// running webhook keeps its last valid policy, but the next one to start
// has none and refuses every pod of the opted-in namespaces
// (ZZWebhookPolicyRefused).
func (s *PolicyStore) Collectors() []prometheus.Collector {
	valid := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "zz_webhook_policy_last_update_valid",
		Help: "1 when the policy ConfigMap's latest version is in force; 0 while it was refused or deleted (a webhook started now would have no policy).",
	}, func() float64 {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.lastErr != nil {
			return 0
		}
		return 1
	})
	return []prometheus.Collector{s.loads, valid}
}

// Current is the policy in force, nil before the first valid one.
func (s *PolicyStore) Current() *inject.Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.policy
}

// Set loads a ConfigMap's policy; when invalid the previous policy stays.
func (s *PolicyStore) Set(ctx context.Context, cm *corev1.ConfigMap) error {
	logger := klog.FromContext(ctx).WithValues("configMap", klog.KObj(cm), "resourceVersion", cm.ResourceVersion)
	p, err := inject.FromConfigMapData(cm.Data)
	s.mu.Lock()
	if err != nil {
		s.lastErr = fmt.Errorf("ConfigMap %s resourceVersion %s refused: %w", s.Source, cm.ResourceVersion, err)
	} else {
		s.policy, s.loadedAt, s.version, s.lastErr = p, s.Now(), cm.ResourceVersion, nil
	}
	kept := s.policy != nil
	s.mu.Unlock()
	if err != nil {
		s.loads.WithLabelValues("invalid").Inc()
		if kept {
			logger.Error(err, "Invalid webhook policy; the last valid policy stays in force")
			s.event(cm, corev1.EventTypeWarning, ReasonPolicyInvalid, "policy refused, the last valid one stays in force: "+err.Error())
		} else {
			// None was ever valid (a webhook started on this one): every
			// review of an opted-in namespace fails until it is fixed.
			logger.Error(err, "Invalid webhook policy and none valid before it: pods of opted-in namespaces are refused until it is fixed")
			s.event(cm, corev1.EventTypeWarning, ReasonPolicyInvalid, "policy refused, and no valid one was loaded before it: pods of opted-in namespaces are refused until it is fixed: "+err.Error())
		}
		return err
	}
	s.loads.WithLabelValues("ok").Inc()
	logger.Info("Webhook policy loaded")
	s.event(cm, corev1.EventTypeNormal, ReasonPolicyLoaded, "policy in force from resourceVersion "+cm.ResourceVersion)
	others := p.OtherSchedulers()
	for _, name := range slices.Sorted(maps.Keys(others)) {
		fields := strings.Join(others[name], ", ")
		logger.Info("Webhook policy routes pods to a scheduler other than zz's and the default one; they stay Pending unless a scheduler of that name runs", "scheduler", name, "fields", fields)
		s.event(cm, corev1.EventTypeWarning, ReasonPolicyScheduler, fmt.Sprintf(
			"%s: scheduler %q is neither %s nor %s: the pods it routes stay Pending unless a scheduler of that name runs (a typo? kubectl zz check lists pods no scheduler has tried)",
			fields, name, contract.SchedulerName, corev1.DefaultSchedulerName))
	}
	return nil
}

// Deleted records that the ConfigMap is gone; the policy in force stays.
func (s *PolicyStore) Deleted(ctx context.Context) {
	s.mu.Lock()
	s.lastErr = fmt.Errorf("ConfigMap %s was deleted; recreate it (the last valid policy stays in force until then)", s.Source)
	err := s.lastErr
	s.mu.Unlock()
	s.loads.WithLabelValues("deleted").Inc()
	klog.FromContext(ctx).Error(err, "Webhook policy ConfigMap deleted")
}

func (s *PolicyStore) event(cm *corev1.ConfigMap, kind, reason, msg string) {
	if s.Recorder != nil {
		s.Recorder.Event(cm, kind, reason, msg)
	}
}

// Ready fails until a valid policy was loaded; its detail names the policy
// in force and the last refused update, if any.
func (s *PolicyStore) Ready() (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.policy == nil {
		if s.lastErr != nil {
			return "", s.lastErr
		}
		if !s.listed {
			// Not "create it": the ConfigMap may well be there, and the
			// apiserver not answering (an SRE audit was sent to create it).
			return "", fmt.Errorf("no policy yet: ConfigMap %s not read from the apiserver yet (is it reachable? the webhook's log says)", s.Source)
		}
		return "", fmt.Errorf("no policy loaded yet from ConfigMap %s (key %q); create it", s.Source, contract.PolicyKey)
	}
	detail := fmt.Sprintf("policy from ConfigMap %s resourceVersion %s, loaded %s", s.Source, s.version, s.loadedAt.UTC().Format(time.RFC3339))
	if s.lastErr != nil {
		detail += "; last update not applied: " + s.lastErr.Error()
	}
	return detail, nil
}

// Watch runs an informer on the policy ConfigMap alone until ctx ends.
func (s *PolicyStore) Watch(ctx context.Context, client kubernetes.Interface) error {
	set := func(obj any) {
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			_ = s.Set(ctx, cm) // reported by Set
		}
	}
	err := followOne(ctx, client, s.Source, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().ConfigMaps().Informer()
	}, set, func() { s.Deleted(ctx) }, func() {
		s.mu.Lock()
		s.listed = true
		s.mu.Unlock()
	})
	if err != nil {
		return fmt.Errorf("policy ConfigMap: %w", err)
	}
	return nil
}

// followOne runs an informer on the one object named obj until ctx ends:
// set gets it when listed and on each change, deleted runs when it goes,
// and synced (if any) once the first list is in. It fails when ctx ends
// before that first list.
func followOne(ctx context.Context, client kubernetes.Interface, obj types.NamespacedName,
	informer func(informers.SharedInformerFactory) cache.SharedIndexInformer, set func(any), deleted func(), synced func()) error {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(obj.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", obj.Name).String()
		}))
	inf := informer(factory)
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(any) { deleted() },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return errors.New("informer did not sync")
	}
	if synced != nil {
		synced()
	}
	<-ctx.Done()
	return nil
}
