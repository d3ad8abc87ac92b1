package clustercheck

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// gatherHostnames reads every node's kubernetes.io/hostname label into
// s.HostnameClashes: the values two or more nodes carry.
func gatherHostnames(ctx context.Context, c kubernetes.Interface, s *State) {
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		s.HostnamesErr = err
		return
	}
	s.HostnameClashes = HostnameClashes(nodes.Items)
}

// HostnameClashes lists each kubernetes.io/hostname value several nodes
// carry, with the nodes ("gpu-a100-1 on nodes gpu-a100-1, gpu-t4-1"),
// sorted. NodeRestriction lets a node set that label on itself to any
// value, and root on one node copied another's to draw the pods pinned to
// it by the label (a root-on-one-node audit); no two real hosts share it.
func HostnameClashes(nodes []corev1.Node) []string {
	by := map[string][]string{}
	for _, n := range nodes {
		if h := n.Labels[corev1.LabelHostname]; h != "" {
			by[h] = append(by[h], n.Name)
		}
	}
	var out []string
	for h, names := range by {
		if len(names) > 1 {
			slices.Sort(names)
			out = append(out, h+" on nodes "+strings.Join(names, ", "))
		}
	}
	slices.Sort(out)
	return out
}

// hostnames warns of a kubernetes.io/hostname several nodes carry: pods
// pinned by the label may run on any of them.
func hostnames(s *State) []Result {
	if s.HostnamesErr != nil {
		if s.NodesErr != nil {
			return nil // the GPU nodes' line says nodes cannot be read
		}
		return []Result{unreadable(GroupPolicies, "node hostnames", s.HostnamesErr)}
	}
	if len(s.HostnameClashes) == 0 {
		return nil
	}
	return []Result{{Group: GroupPolicies, Name: "node hostnames", Status: Warn,
		Detail: fmt.Sprintf("kubernetes.io/hostname %s: a node sets that label on itself, so one of them copied another's, and pods pinned by it may run on either",
			listSome(s.HostnameClashes)),
		Hint: "kubectl get nodes -L kubernetes.io/hostname shows each node's; fix or drain the one whose label is not its host's, and pin pods by their node's name (nodeAffinity matchFields metadata.name), which no node can change"}}
}
