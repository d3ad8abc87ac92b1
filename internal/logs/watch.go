package logs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/zzcloud/zz/internal/deploy"
)

// start lists every cluster and namespace (and, with Follow, keeps watching),
// starting a stream per matched container; it returns once the initial lists
// are handled.
//
// A namespace (or cluster) whose pods the user may not list is skipped with a
// warning when others are selected, as the rest can still be read; it is an
// error when it is all there is.
func (m *manager) start(ctx context.Context) error {
	var synced []cache.InformerSynced
	scopes := 0
	for i := range m.cfg.Clusters {
		scopes += len(m.cfg.Clusters[i].Namespaces)
	}
	var refused error
	listed := 0
	for i := range m.cfg.Clusters {
		cl := &m.cfg.Clusters[i]
		for _, ns := range cl.Namespaces {
			if m.isDenied(cl, ns) {
				continue // the cluster refused this user already
			}
			var err error
			if !m.cfg.Follow {
				err = m.listOnce(ctx, cl, ns)
			} else {
				// One list up front reports a wrong context or missing RBAC as an
				// error instead of an informer retrying forever.
				_, err = cl.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: m.cfg.LabelSelector, FieldSelector: m.cfg.FieldSelector, Limit: 1})
				if err != nil {
					err = clusterErr(cl, fmt.Errorf("list pods: %w", err))
				}
			}
			if err != nil && ctx.Err() != nil {
				return ctx.Err() // Ctrl-C during the first lists
			}
			if err != nil && scopes > 1 && m.cfg.Follow && unreachable(err) {
				// One cluster down must not end the follow of the others (a
				// kubectl-conventions audit's incident case): its informer
				// retries with back-off, and its pods join once it answers.
				if refused == nil {
					refused = err
				}
				fmt.Fprintf(m.cfg.ErrOut, "warning: %v; following the rest, and retrying it\n", err)
				if _, err := m.watch(ctx, cl, ns); err != nil {
					return clusterErr(cl, err)
				}
				continue
			}
			if err != nil {
				if scopes == 1 || !(refusal(err) || unreachable(err)) {
					return err
				}
				if refused == nil {
					refused = err
				}
				m.skipScope(cl, ns, err)
				continue
			}
			listed++
			if !m.cfg.Follow {
				continue
			}
			has, err := m.watch(ctx, cl, ns)
			if err != nil {
				return clusterErr(cl, err)
			}
			synced = append(synced, has)
		}
	}
	if listed == 0 && refused != nil {
		return refused
	}
	if len(synced) > 0 && !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return ctx.Err()
	}
	return nil
}

// unreachable says whether err is the cluster not answering: no HTTP
// status (refused, DNS, TLS, a --request-timeout that ran out) or one a
// proxy or an overloaded apiserver gives (429, 502, 503, 504), rather than
// an answer about the request. The caller tells the command's own end
// (Ctrl-C) apart by its context.
func unreachable(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	switch status.Status().Code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func clusterErr(cl *Cluster, err error) error {
	if cl.Name == "" {
		return err
	}
	return fmt.Errorf("context %s: %w", cl.Name, err)
}

// listOnce starts a stream for every matched container of one list (no follow).
func (m *manager) listOnce(ctx context.Context, cl *Cluster, ns string) error {
	list, err := cl.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: m.cfg.LabelSelector, FieldSelector: m.cfg.FieldSelector})
	if err != nil {
		return clusterErr(cl, fmt.Errorf("list pods: %w", err))
	}
	for i := range list.Items {
		m.reconcile(ctx, cl, &list.Items[i], true)
	}
	return nil
}

// watch runs a pod informer for one namespace of one cluster. It is built on
// a plain ListWatch rather than an informer factory (whose package links every
// API group's informers and listers into the binary), and its cache holds slim
// pods (see slimPod), not the API server's full objects.
func (m *manager) watch(ctx context.Context, cl *Cluster, ns string) (cache.InformerSynced, error) {
	pods := cl.Client.CoreV1().Pods(ns)
	sel, fields := m.cfg.LabelSelector, m.cfg.FieldSelector
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector, o.FieldSelector = sel, fields
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector, o.FieldSelector = sel, fields
			return pods.Watch(ctx, o)
		},
	}, cl.Client)
	inf := cache.NewSharedIndexInformerWithOptions(lw, &corev1.Pod{}, cache.SharedIndexInformerOptions{})
	if err := inf.SetTransform(slimPod); err != nil {
		return nil, err
	}
	if err := inf.SetWatchErrorHandlerWithContext(m.watchError(cl, ns)); err != nil {
		return nil, err
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if pod, ok := obj.(*corev1.Pod); ok {
				m.reconcile(ctx, cl, pod, initial)
			}
		},
		UpdateFunc: func(_, obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				m.reconcile(ctx, cl, pod, false)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				m.forget(cl, pod)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	go inf.RunWithContext(ctx)
	return reg.HasSynced, nil
}

// watchError is the informer's watch error handler. A user who may list
// pods but not watch them (a "log reader" Role: get, list) is still
// followed, the reflector listing again after each refusal; one warning
// says so instead of client-go's "Failed to watch" line at every retry.
// Other errors go to client-go's handler.
func (m *manager) watchError(cl *Cluster, ns string) cache.WatchErrorHandlerWithContext {
	var warned atomic.Bool
	return func(ctx context.Context, r *cache.Reflector, err error) {
		if !apierrors.IsForbidden(err) {
			cache.DefaultWatchErrorHandler(ctx, r, err)
			return
		}
		if !warned.Swap(true) {
			m.note("warning: %v\n", clusterErr(cl, fmt.Errorf("may not watch pods in %s (kubectl zz logs needs list and watch on pods, and get on pods/log): new pods are found by listing them again, after a back-off: %w", namespaces([]string{ns}), err)))
		}
	}
}

// slimPod is the informer's transform: it keeps only what reconcile, forget,
// Selector.Targets and podProblem read: name, namespace, UID, node, phase,
// the PodScheduled and Ready conditions, the init containers' names and
// restart policies (native sidecars), and per container status its name,
// containerID, restart count, readiness, state and last termination (the
// last run of a crash-looping container is its log; see targetOf). A full
// pod (spec, managedFields) is several kilobytes; the cache holds one per
// followed pod.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a tombstone: its object was transformed before
	}
	slim := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID,
			ResourceVersion: pod.ResourceVersion, DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: corev1.PodStatus{
			Phase:                      pod.Status.Phase,
			InitContainerStatuses:      slimStatuses(pod.Status.InitContainerStatuses),
			ContainerStatuses:          slimStatuses(pod.Status.ContainerStatuses),
			EphemeralContainerStatuses: slimStatuses(pod.Status.EphemeralContainerStatuses),
		},
	}
	for _, c := range pod.Spec.InitContainers {
		slim.Spec.InitContainers = append(slim.Spec.InitContainers, corev1.Container{Name: c.Name, RestartPolicy: c.RestartPolicy})
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled || c.Type == corev1.PodReady {
			slim.Status.Conditions = append(slim.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
		}
	}
	return slim, nil
}

func slimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i := range in {
		st := &in[i]
		out[i] = corev1.ContainerStatus{Name: st.Name, ContainerID: st.ContainerID, RestartCount: st.RestartCount, Ready: st.Ready}
		if st.State.Running != nil {
			out[i].State.Running = &corev1.ContainerStateRunning{}
		}
		if t := st.State.Terminated; t != nil {
			out[i].State.Terminated = &corev1.ContainerStateTerminated{ContainerID: t.ContainerID, ExitCode: t.ExitCode, Reason: t.Reason}
		}
		if w := st.State.Waiting; w != nil {
			out[i].State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		}
		if t := st.LastTerminationState.Terminated; t != nil {
			out[i].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: t.ContainerID, ExitCode: t.ExitCode, Reason: t.Reason, Message: deploy.TerminationReason(t.Message)}
		}
	}
	return out
}
