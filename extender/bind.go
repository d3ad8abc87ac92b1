package extender

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"

	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/internal/podannotate"
)

// PodGetter finds a pod, from an informer cache first.
type PodGetter func(ctx context.Context, namespace, name string) (*corev1.Pod, error)

// Binder binds GPU pods: it reserves cards in the ledger (under its lock),
// writes the choice on the pod, then creates the Binding. Any failure gives
// the cards back, so a retried scheduling cycle starts clean.
type Binder struct {
	Client  kubernetes.Interface
	GetPod  PodGetter
	Decider *Decider
	Now     func() time.Time
}

// Bind binds one pod and returns what the scheduler should be told.
func (b *Binder) Bind(ctx context.Context, args *extenderv1.ExtenderBindingArgs) error {
	logger := klog.FromContext(ctx).WithValues("pod", klog.KRef(args.PodNamespace, args.PodName), "node", args.Node)
	if args.PodName == "" || args.PodNamespace == "" || args.Node == "" {
		return fmt.Errorf("%w: PodName, PodNamespace and Node are required", errBadArgs)
	}
	pod, err := b.GetPod(ctx, args.PodNamespace, args.PodName)
	if err != nil {
		return fmt.Errorf("get pod: %w", err)
	}
	if args.PodUID != "" && pod.UID != args.PodUID {
		return fmt.Errorf("pod %s/%s is now UID %s, not %s: it was recreated", pod.Namespace, pod.Name, pod.UID, args.PodUID)
	}
	req, policy, err := b.Decider.request(pod)
	if errors.Is(err, gpushare.ErrNoGPU) {
		// A profile without managedResources sends every pod here: one that
		// asks for no GPU memory is bound as the default binder would.
		if err := b.bind(ctx, pod, args.Node); err != nil {
			return err
		}
		b.Decider.Usage.Assume(pod, args.Node, b.Now())
		return nil
	}
	if errors.Is(err, gpushare.ErrCardsWithoutMemory) {
		return cardsUnfiltered(pod, err)
	}
	if err != nil {
		return err
	}
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	a, err := b.Decider.GPU.Reserve(args.Node, key, pod.UID, req, policy, b.Now())
	if err != nil {
		// The filter passed the node, so the memory went in between, most
		// often to a pod bound a moment before (kube-scheduler binds while
		// it filters the next pod); the user reads this as the pod's
		// SchedulerError, so it says so.
		return fmt.Errorf("the cards the filter saw were taken before the bind, most likely by a pod bound a moment earlier; kube-scheduler tries the pod again: reserve %s on %s: %w", req, args.Node, err)
	}
	if err := podannotate.Set(ctx, b.Client, pod.Namespace, pod.Name, pod.UID, a.Annotations()); err != nil {
		// The write may have landed all the same: the cache clears it.
		b.Decider.GPU.Release(pod.UID)
		return fmt.Errorf("write the card choice on the pod: %w", err)
	}
	if err := b.bind(ctx, pod, args.Node); err != nil {
		if apierrors.IsNotFound(err) {
			b.Decider.GPU.DeletePod(pod.UID)
			return err
		}
		if b.boundAnyway(pod, args.Node) {
			// The Binding landed though its answer did not (a timeout):
			// the pod holds its cards there, and giving them back would
			// let the next pod overfill them.
			logger.Info("Bind answered with an error but the pod is bound; keeping its cards", "err", err)
			b.Decider.Usage.Assume(pod, args.Node, b.Now())
			return nil
		}
		// Leave no stale choice on a pod that goes back to the queue; if
		// this clear fails, the cache retries it until it lands.
		b.Decider.GPU.Release(pod.UID)
		if cerr := podannotate.Patch(ctx, b.Client, pod.Namespace, pod.Name, pod.UID, gpushare.ClearAssignment()); cerr != nil {
			logger.Error(cerr, "Could not clear the card choice after a failed bind; retrying in the background")
		} else {
			b.Decider.GPU.Cleared(pod.UID)
		}
		return err
	}
	// The balance book learns where the pod went before the informer does
	// (its balance score may have preferred another node).
	b.Decider.Usage.Assume(pod, args.Node, b.Now())
	logger.V(2).Info("Bound GPU pod", "cards", a.Indexes, "memMiB", a.MemMiB)
	return nil
}

// boundAnyway says whether pod, read again from the apiserver (not the
// cache, which may not have seen it yet), is bound to node: a Binding whose
// answer was lost (a timeout) may have landed. Unknown (the read fails)
// counts as not bound, as before this check.
func (b *Binder) boundAnyway(pod *corev1.Pod, node string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	live, err := b.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	return err == nil && live.UID == pod.UID && live.Spec.NodeName == node
}

// bind creates the pod's Binding to node.
func (b *Binder) bind(ctx context.Context, pod *corev1.Pod, node string) error {
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	if err := b.Client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	return nil
}
