package rebalance

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/internal/prose"
)

// Reasons a pod is not moved.
const (
	ReasonNoController = "no controller: nothing would recreate it"
	ReasonDaemonSet    = "a DaemonSet's pod runs on its node"
	ReasonNotReplica   = "its controller is not a ReplicaSet or StatefulSet"
	ReasonSystem       = "kube-system is never touched"
	// ReasonGPUMemory: the extender packs GPU memory card by card (its
	// binpack policy); a move for CPU balance would undo that packing, and
	// node allocatable cannot tell where its cards would fit.
	ReasonGPUMemory = "its GPU memory is placed card by card by the zz extender (kubectl zz gpu)"
	// ReasonBudget starts the reason of a pod whose PodDisruptionBudget
	// allows no disruption.
	ReasonBudget = "its PodDisruptionBudget"
	// ReasonVolumesUnknown: its volumes may pin it to a node or zone.
	ReasonVolumesUnknown = "the nodes its volumes allow cannot be told"
)

// Unmovable says why the pod cannot be moved, "" when it can.
func Unmovable(pod *corev1.Pod) string {
	if pod.Namespace == metav1.NamespaceSystem {
		return ReasonSystem
	}
	if _, err := gpushare.PodRequest(pod); !errors.Is(err, gpushare.ErrNoGPU) {
		return ReasonGPUMemory
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	switch {
	case ref == nil:
		return ReasonNoController
	case ref.Kind == "DaemonSet":
		return ReasonDaemonSet
	case ref.Kind != "ReplicaSet" && ref.Kind != "StatefulSet":
		return ReasonNotReplica
	}
	return ""
}

// ReasonOtherNamespace starts the reason of a pod outside the namespace
// kubectl zz rebalance -n moves pods of.
const ReasonOtherNamespace = "not in namespace"

// OnlyNamespace keeps every pod of nodes outside ns where it is (Unmovable
// says why): kubectl zz rebalance -n moves only ns's pods, while every
// pod's requests still count in the nodes' load the plan evens out.
func OnlyNamespace(nodes []Node, ns string) {
	for i := range nodes {
		for j := range nodes[i].Pods {
			if p := &nodes[i].Pods[j]; p.Namespace != ns && p.Unmovable == "" {
				p.Unmovable = fmt.Sprintf("%s %s (-n)", ReasonOtherNamespace, ns)
			}
		}
	}
}

// appOf names the controller of a pod, namespace/kind/name.
func appOf(pod *corev1.Pod) string {
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		return pod.Namespace + "/" + ref.Kind + "/" + ref.Name
	}
	return pod.Namespace + "/Pod/" + pod.Name
}

// Snapshot reads the nodes matching nodeSelector (a label selector, "" for
// all) and the pods bound to them that are not finished, with what the
// planner needs to send each pod only where the scheduler could place it
// (Constraints): the nodes' labels, taints and allocatable of every
// resource, the pods' requests, labels and constraints, and the node
// affinity of the volumes their claims are bound to. Without the right to
// read claims and volumes, pods with claims are not moved. Cordoned nodes
// are left out; so are nodes that are not Ready (NotReady), named in
// notReady: their pods are about to be evicted, and a spread measured
// with them evens out load that is going away (an incident audit).
func Snapshot(ctx context.Context, client kubernetes.Interface, nodeSelector string) (_ []Node, notReady []string, _ error) {
	nl, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: nodeSelector})
	if err != nil {
		return nil, nil, fmt.Errorf("list nodes: %w", err)
	}
	nodes := make([]Node, 0, len(nl.Items))
	index := map[string]int{}
	for i := range nl.Items {
		n := &nl.Items[i]
		if n.Spec.Unschedulable {
			continue
		}
		if NotReady(n) {
			notReady = append(notReady, n.Name)
			continue
		}
		index[n.Name] = len(nodes)
		nodes = append(nodes, Node{Name: n.Name, Labels: n.Labels, Taints: n.Spec.Taints, Allocatable: balance.Resources{
			MilliCPU: n.Status.Allocatable.Cpu().MilliValue(), Memory: n.Status.Allocatable.Memory().Value()},
			Other: others(n.Status.Allocatable)})
	}
	sel := fields.AndSelectors(fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)))
	pl, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		return nil, nil, fmt.Errorf("list pods: %w", err)
	}
	vols := volumesOf(ctx, client, pl.Items)
	single := singleReplica(ctx, client)
	blocked := blockingBudgets(ctx, client)
	for i := range pl.Items {
		p := &pl.Items[i]
		at, ok := index[p.Spec.NodeName]
		if !ok || p.DeletionTimestamp != nil {
			continue
		}
		pod := Pod{Namespace: p.Namespace, Name: p.Name, App: appOf(p), SpreadKey: balance.AppKey(p), Labels: p.Labels, Scheduler: p.Spec.SchedulerName,
			Requests: balance.PodRequests(p), Other: map[corev1.ResourceName]int64{}, HostPorts: HostPorts(p), Repels: Repels(p), Unmovable: Unmovable(p)}
		for r, v := range others(resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})) {
			// A resource its node does not advertise is one the scheduler
			// ignores (an extender's, such as zz.io/gpu-mem): not room.
			if _, advertised := nodes[at].Other[r]; advertised {
				pod.Other[r] = v
			}
		}
		if pod.Unmovable == "" && single(p) {
			pod.Unmovable = errSingleReplica.Error()
		}
		if pod.Unmovable == "" {
			pod.Unmovable = blocked(p)
		}
		if pod.Unmovable == "" {
			pvs, why := vols(p)
			if why != "" {
				pod.Unmovable = why
			} else if pod.Constraints, err = NewConstraints(p, pvs); err != nil {
				pod.Unmovable = err.Error()
			}
		}
		nodes[at].Pods = append(nodes[at].Pods, pod)
	}
	slices.Sort(notReady)
	return nodes, notReady, nil
}

// NotReady says node n is not Ready: its Ready condition is not True (or
// missing), or it carries the taint the node lifecycle controller puts on
// a node it lost (node.kubernetes.io/unreachable) or one whose kubelet
// says NotReady (node.kubernetes.io/not-ready), whatever its effect.
func NotReady(n *corev1.Node) bool {
	if slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
		return t.Key == corev1.TaintNodeUnreachable || t.Key == corev1.TaintNodeNotReady
	}) {
		return true
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status != corev1.ConditionTrue
		}
	}
	return true
}

// LeftOut is what the plan says of the nodes Snapshot left out as not
// Ready ("1 node not Ready left out: cpu-1"), "" when none was.
func LeftOut(notReady []string) string {
	switch len(notReady) {
	case 0:
		return ""
	case 1:
		return "1 node not Ready left out: " + notReady[0]
	}
	return fmt.Sprintf("%d nodes not Ready left out: %s", len(notReady), prose.Some(notReady, 5))
}

// singleReplica reports, per pod, whether its ReplicaSet or StatefulSet
// wants one replica: the executor never moves such a pod (it would leave
// its app without one ready), so the plan must not count on it. Without the
// right to list them, every pod may be planned and the executor decides.
func singleReplica(ctx context.Context, client kubernetes.Interface) func(*corev1.Pod) bool {
	want := map[string]int32{} // namespace/kind/name
	if l, err := client.AppsV1().ReplicaSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{}); err == nil {
		for _, rs := range l.Items {
			want[rs.Namespace+"/ReplicaSet/"+rs.Name] = replicas(rs.Spec.Replicas)
		}
	}
	if l, err := client.AppsV1().StatefulSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{}); err == nil {
		for _, ss := range l.Items {
			want[ss.Namespace+"/StatefulSet/"+ss.Name] = replicas(ss.Spec.Replicas)
		}
	}
	return func(p *corev1.Pod) bool {
		n, ok := want[appOf(p)]
		return ok && n < 2
	}
}

// blockingBudgets says, per pod, which PodDisruptionBudget allows no
// disruption of it now ("" when none): the Eviction API would refuse every
// try until --timeout, so the plan leaves the pod where it is. A budget
// whose selector cannot be read blocks too. Without the right to list
// budgets the executor finds out.
func blockingBudgets(ctx context.Context, client kubernetes.Interface) func(*corev1.Pod) string {
	l, err := client.PolicyV1().PodDisruptionBudgets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return func(*corev1.Pod) string { return "" }
	}
	return func(p *corev1.Pod) string {
		for i := range l.Items {
			if b := &l.Items[i]; BudgetBlocks(b, p) {
				return fmt.Sprintf("%s %s allows no disruption now", ReasonBudget, b.Name)
			}
		}
		return ""
	}
}

// BudgetBlocks says whether PodDisruptionBudget b allows no disruption of
// pod now: the Eviction API refuses every eviction of it, so node drains
// and kubectl zz rebalance wait (kubectl zz status says so of an app's
// pods). A budget whose status the disruption controller has not
// computed for its generation yet (just made, or edited) blocks too: the
// Eviction API answers 429 "still being processed" until it has
// (checkAndDecrement in kube-apiserver's eviction storage), so GPU
// preemption must not plan its pods as victims (a review: the dry-run
// eviction then refused the whole plan). A selector that cannot be read
// blocks.
func BudgetBlocks(b *policyv1.PodDisruptionBudget, pod *corev1.Pod) bool {
	if b.Namespace != pod.Namespace || b.Status.DisruptionsAllowed > 0 && b.Status.ObservedGeneration >= b.Generation {
		return false
	}
	// policy/v1: an empty selector matches every pod of the namespace, a
	// null one none.
	sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
	return err != nil || sel.Matches(labels.Set(pod.Labels))
}

// others are the quantities of every resource but CPU and memory.
func others(l corev1.ResourceList) map[corev1.ResourceName]int64 {
	out := make(map[corev1.ResourceName]int64, len(l))
	for r, q := range l {
		if r != corev1.ResourceCPU && r != corev1.ResourceMemory {
			out[r] = q.Value()
		}
	}
	return out
}

// volumesOf returns, per pod, the persistent volumes its claims are bound
// to, or why they cannot be told (claims or volumes unreadable, a claim
// not bound): a volume may pin its pod to a node or zone.
func volumesOf(ctx context.Context, client kubernetes.Interface, pods []corev1.Pod) func(*corev1.Pod) ([]*corev1.PersistentVolume, string) {
	claimed := false
	for i := range pods {
		claimed = claimed || slices.ContainsFunc(pods[i].Spec.Volumes, func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil })
	}
	if !claimed {
		return func(*corev1.Pod) ([]*corev1.PersistentVolume, string) { return nil, "" }
	}
	pvcs, err := client.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	var pvs *corev1.PersistentVolumeList
	if err == nil {
		pvs, err = client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	}
	if err != nil {
		why := ReasonVolumesUnknown + " (" + err.Error() + ")"
		return func(p *corev1.Pod) ([]*corev1.PersistentVolume, string) {
			if slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil }) {
				return nil, why
			}
			return nil, ""
		}
	}
	byName := map[string]*corev1.PersistentVolume{}
	for i := range pvs.Items {
		byName[pvs.Items[i].Name] = &pvs.Items[i]
	}
	bound := map[string]string{} // namespace/claim -> volume
	for _, c := range pvcs.Items {
		bound[c.Namespace+"/"+c.Name] = c.Spec.VolumeName
	}
	return func(p *corev1.Pod) ([]*corev1.PersistentVolume, string) {
		var out []*corev1.PersistentVolume
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim == nil {
				continue
			}
			pv := byName[bound[p.Namespace+"/"+v.PersistentVolumeClaim.ClaimName]]
			if pv == nil {
				return nil, ReasonVolumesUnknown + " (claim " + v.PersistentVolumeClaim.ClaimName + " is not bound to a volume found)"
			}
			out = append(out, pv)
		}
		return out, ""
	}
}
