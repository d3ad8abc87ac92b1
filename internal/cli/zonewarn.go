package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// zoneWarning says that spec.zoneSpread: required cannot place a pod on t:
// kube-scheduler's PodTopologySpread filter turns away every node without
// the zone label (UnschedulableAndUnresolvable, "missing required label"),
// so where no node (of spec.pool) carries one, every pod stays Pending.
// "" when the spread is not required, a node has the label, or the user
// may not list nodes (a developer often may not: not judged, no failure).
func (o *DeployOptions) zoneWarning(ctx context.Context, t target) string {
	s := o.app.Spec
	if s.ZoneSpread != appspec.ZoneSpreadRequired {
		return ""
	}
	zoned, err := labels.NewRequirement(corev1.LabelTopologyZone, selection.Exists, nil)
	if err != nil {
		return ""
	}
	pool := labels.Set{}
	where := "no node"
	if s.Pool != "" {
		// The pods' nodeSelector: only the pool's nodes are candidates.
		pool[contract.LabelPool] = s.Pool
		where = fmt.Sprintf("no node of pool %s (%s=%s)", s.Pool, contract.LabelPool, s.Pool)
	}
	sel := pool.AsSelector().Add(*zoned)
	nodes, err := t.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: sel.String(), Limit: 1})
	if err != nil || len(nodes.Items) > 0 {
		return ""
	}
	return fmt.Sprintf("spec.zoneSpread required: %s in context %s carries the label %s, and the scheduler never places a required zone spread on a node without it: every pod will stay Pending (node(s) didn't match pod topology spread constraints (missing required label)); label the nodes with their zone (kubectl label node NODE %s=ZONE; cloud providers set it) or use zoneSpread: preferred",
		where, t.name, corev1.LabelTopologyZone, corev1.LabelTopologyZone)
}

// poolWarning says that no node on t carries spec.pool's label, naming
// the pools that exist: every pod would stay Pending (node(s) didn't match
// Pod's node affinity/selector) until --timeout, and a typo ("genral") cost
// a pipeline its whole timeout with no word of spec.pool where the webhook
// does not serve the namespace (an audit of CI use). "" when the spec names
// no pool, a node has it, or the user may not list nodes (not judged).
func (o *DeployOptions) poolWarning(ctx context.Context, t target) string {
	pool := o.app.Spec.Pool
	if pool == "" {
		return ""
	}
	nodes, err := t.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: labels.Set{contract.LabelPool: pool}.String(), Limit: 1})
	if err != nil || len(nodes.Items) > 0 {
		return ""
	}
	// The pools there are, from the nodes' labels (metadata is enough).
	all, err := t.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: contract.LabelPool})
	if err != nil {
		return ""
	}
	var pools []string
	for _, n := range all.Items {
		if p := n.Labels[contract.LabelPool]; !slices.Contains(pools, p) {
			pools = append(pools, p)
		}
	}
	slices.Sort(pools)
	have := "no node carries " + contract.LabelPool
	if len(pools) > 0 {
		have = "its pools: " + strings.Join(pools, ", ")
	}
	return fmt.Sprintf("spec.pool %s: no node in context %s carries the label %s=%s (%s): every pod will stay Pending (node(s) didn't match Pod's node affinity/selector); name one of its pools, or leave spec.pool out",
		pool, t.name, contract.LabelPool, pool, have)
}
