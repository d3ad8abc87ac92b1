package rebalance

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/balance"
)

// Reasons a pod is not moved.
const (
	ReasonNoController = "no controller: nothing would recreate it"
	ReasonDaemonSet    = "a DaemonSet's pod runs on its node"
	ReasonNotReplica   = "its controller is not a ReplicaSet or StatefulSet"
	ReasonSystem       = "kube-system is never touched"
)

// Unmovable says why the pod cannot be moved, "" when it can.
func Unmovable(pod *corev1.Pod) string {
	if pod.Namespace == metav1.NamespaceSystem {
		return ReasonSystem
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

// appOf names the controller of a pod, namespace/kind/name.
func appOf(pod *corev1.Pod) string {
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		return pod.Namespace + "/" + ref.Kind + "/" + ref.Name
	}
	return pod.Namespace + "/Pod/" + pod.Name
}

// Snapshot reads the nodes matching nodeSelector (a label selector, "" for
// all) and the pods bound to them that are not finished.
func Snapshot(ctx context.Context, client kubernetes.Interface, nodeSelector string) ([]Node, error) {
	nl, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: nodeSelector})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	nodes := make([]Node, 0, len(nl.Items))
	index := map[string]int{}
	for i := range nl.Items {
		n := &nl.Items[i]
		if n.Spec.Unschedulable {
			continue
		}
		index[n.Name] = len(nodes)
		nodes = append(nodes, Node{Name: n.Name, Allocatable: balance.Resources{
			MilliCPU: n.Status.Allocatable.Cpu().MilliValue(), Memory: n.Status.Allocatable.Memory().Value()}})
	}
	sel := fields.AndSelectors(fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
		fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)))
	pl, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	for i := range pl.Items {
		p := &pl.Items[i]
		at, ok := index[p.Spec.NodeName]
		if !ok || p.DeletionTimestamp != nil {
			continue
		}
		nodes[at].Pods = append(nodes[at].Pods, Pod{Namespace: p.Namespace, Name: p.Name, App: appOf(p),
			Requests: balance.PodRequests(p), Unmovable: Unmovable(p)})
	}
	return nodes, nil
}
