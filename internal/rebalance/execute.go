package rebalance

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// Outcome of one move.
type Outcome struct {
	Move Move
	// Done is true when the pod was evicted and its app is whole again.
	Done bool
	// Evicted is true once the eviction went through, even when the app
	// was not whole again within the timeout.
	Evicted bool
	// Skipped says why a move was not made, or not finished ("" when done).
	Skipped string
	// Landed is the node the replacement runs on, once the move is done
	// ("" when it cannot be told: several new pods of the app, or none).
	Landed string
	err    error
}

// Failed reports a move that was not made, or whose app was not whole again
// in time; a move made moot (its pod gone, or moved by someone else) is not
// a failure.
func (o Outcome) Failed() bool { return !o.Done && !errors.Is(o.err, errMoved) }

// ExecOptions tune Execute.
type ExecOptions struct {
	// Timeout bounds the wait for one move: the app ready before it, a
	// PodDisruptionBudget that refuses the eviction, the replacement ready.
	Timeout time.Duration
	// Poll is the interval of those waits.
	Poll time.Duration
	// Report is called after each move, e.g. to print it.
	Report func(Outcome)
}

// Errors that skip a move.
var (
	errSingleReplica = errors.New("the app has one replica: moving it would leave no pod ready")
	errNotWhole      = errors.New("the app did not have every replica ready in time")
	errBudget        = errors.New("a PodDisruptionBudget kept refusing the eviction")
	errMoved         = errors.New("the pod is gone or no longer on the planned node")
	errReplacement   = errors.New("evicted, but its app did not have every replica ready again in time")
)

// Execute carries the moves out one replica at a time: it evicts a pod
// (the Eviction API, so PodDisruptionBudgets hold) only while its app has
// every replica ready, and waits for the replacement to be ready before
// the next move, so no app loses more than the one pod being moved. A move
// that cannot be made is skipped with its reason.
func Execute(ctx context.Context, client kubernetes.Interface, plan Plan, o ExecOptions) []Outcome {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	out := make([]Outcome, 0, len(plan.Moves))
	for _, m := range plan.Moves {
		r := Outcome{Move: m, Done: true}
		evicted, landed, err := move(ctx, client, m, o)
		r.Evicted, r.Landed = evicted, landed
		if err != nil {
			r.Done, r.Skipped, r.err = false, err.Error(), err
			klog.FromContext(ctx).V(2).Info("Move skipped", "pod", klog.KRef(m.Pod.Namespace, m.Pod.Name), "reason", err)
		}
		out = append(out, r)
		if o.Report != nil {
			o.Report(r)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

// move makes one move, says whether it evicted the pod and, once done, the
// node its replacement runs on.
func move(ctx context.Context, client kubernetes.Interface, m Move, o ExecOptions) (bool, string, error) {
	pods := client.CoreV1().Pods(m.Pod.Namespace)
	pod, err := pods.Get(ctx, m.Pod.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && pod.Spec.NodeName != m.From) {
		return false, "", errMoved
	}
	if err != nil {
		return false, "", err
	}
	if why := Unmovable(pod); why != "" {
		return false, "", errors.New(why)
	}
	app := appReadiness(client, pod)
	want, _, err := app(ctx)
	if err != nil {
		return false, "", err
	}
	if want < 2 {
		return false, "", errSingleReplica
	}
	if err := poll(ctx, o, func(ctx context.Context) (bool, error) {
		_, ready, err := app(ctx)
		return ready >= want, err
	}); err != nil {
		return false, "", fmt.Errorf("%w: %v", errNotWhole, err)
	}
	before := appPods(ctx, client, pod)
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}}}
	if err := poll(ctx, o, func(ctx context.Context) (bool, error) {
		err := pods.EvictV1(ctx, ev)
		switch {
		case apierrors.IsTooManyRequests(err):
			return false, nil // a budget refuses it for now
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			return false, errMoved
		}
		return err == nil, err
	}); err != nil {
		if errors.Is(err, errMoved) {
			return false, "", errMoved
		}
		return false, "", fmt.Errorf("%w: %v", errBudget, err)
	}
	if err := poll(ctx, o, func(ctx context.Context) (bool, error) {
		_, ready, err := app(ctx)
		return ready >= want, err
	}); err != nil {
		return true, "", fmt.Errorf("%w: %v", errReplacement, err)
	}
	return true, replacementNode(ctx, client, pod, before), nil
}

// controllerPods lists the pods pod's controller owns now (those labelled
// as pod is: its controller's pods carry its template's labels, a
// StatefulSet's replacement its very name label).
func controllerPods(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) []corev1.Pod {
	ref := metav1.GetControllerOfNoCopy(pod)
	list, err := client.CoreV1().Pods(pod.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(pod.Labels).String()})
	if err != nil || ref == nil {
		return nil
	}
	out := list.Items[:0]
	for _, p := range list.Items {
		if c := metav1.GetControllerOfNoCopy(&p); c != nil && c.Kind == ref.Kind && c.Name == ref.Name {
			out = append(out, p)
		}
	}
	return out
}

// appPods is the set of UIDs of the pods pod's controller owns now.
func appPods(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) map[types.UID]bool {
	out := map[types.UID]bool{}
	for _, p := range controllerPods(ctx, client, pod) {
		out[p.UID] = true
	}
	return out
}

// replacementNode is the node of the one bound pod of pod's controller that
// was not there before the eviction, "" when there is not exactly one.
func replacementNode(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, before map[types.UID]bool) string {
	node := ""
	for _, p := range controllerPods(ctx, client, pod) {
		if before[p.UID] || p.Spec.NodeName == "" || p.DeletionTimestamp != nil {
			continue
		}
		if node != "" {
			return "" // two new pods: which one replaced it cannot be told
		}
		node = p.Spec.NodeName
	}
	return node
}

func poll(ctx context.Context, o ExecOptions, cond func(context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(ctx, o.Poll, o.Timeout, true, cond)
}

// appReadiness returns a function reading how many replicas the pod's app
// wants and how many are ready: from its Deployment when a Deployment owns
// its ReplicaSet, else from the ReplicaSet or StatefulSet.
func appReadiness(client kubernetes.Interface, pod *corev1.Pod) func(context.Context) (want, ready int32, err error) {
	ref := metav1.GetControllerOfNoCopy(pod)
	ns := pod.Namespace
	return func(ctx context.Context) (int32, int32, error) {
		switch ref.Kind {
		case "StatefulSet":
			s, err := client.AppsV1().StatefulSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return 0, 0, err
			}
			return replicas(s.Spec.Replicas), s.Status.ReadyReplicas, nil
		default:
			rs, err := client.AppsV1().ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return 0, 0, err
			}
			if d := metav1.GetControllerOfNoCopy(rs); d != nil && d.Kind == "Deployment" {
				dep, err := client.AppsV1().Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{})
				if err != nil {
					return 0, 0, err
				}
				return replicas(dep.Spec.Replicas), dep.Status.ReadyReplicas, nil
			}
			return replicas(rs.Spec.Replicas), rs.Status.ReadyReplicas, nil
		}
	}
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
