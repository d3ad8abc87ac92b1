package deploy

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/zzcloud/zz/internal/rebalance"
)

// BlockingBudget is a PodDisruptionBudget that allows no disruption of an
// app's pods now (rebalance.BudgetBlocks: the judgement kubectl zz
// rebalance plans with): the Eviction API refuses every eviction of them,
// so a node drain waits for the app, and nothing said so to its owner (an
// incident audit's drain hung on a crash-looping app whose status showed
// only the crash). Ready and Pods are the budget's own counts (status
// currentHealthy and expectedPods).
type BlockingBudget struct {
	Name  string `json:"name"`
	Ready int32  `json:"ready"`
	Pods  int32  `json:"pods"`
	// Processing: the disruption controller has not computed the
	// budget's status for its generation yet (just made or edited): the
	// Eviction API answers 429 until it has, and Ready and Pods are not
	// its counts yet.
	Processing bool `json:"processing,omitempty"`
}

// Note is what kubectl zz status says of b under the app.
func (b BlockingBudget) Note() string {
	if b.Processing {
		return fmt.Sprintf("PodDisruptionBudget %s is being processed by the disruption controller (just made or changed): evictions of this app's pods, node drains and kubectl zz rebalance wait until it is", b.Name)
	}
	return fmt.Sprintf("PodDisruptionBudget %s allows no disruption now: node drains and kubectl zz rebalance wait for this app (%d of %d pods ready)",
		b.Name, b.Ready, b.Pods)
}

// budgets finds, among pdbs (of the apps' namespaces), each app's
// BlockingBudgets: the zz-rendered one (spec.pdb) and any other whose
// selector takes one of its pods. statuses keeps them only for an app that
// is not Ready.
func (b *book) budgets(pdbs []policyv1.PodDisruptionBudget) {
	for key, pods := range b.podsOf {
		st := b.apps[key]
		if st == nil {
			continue
		}
		for i := range pdbs {
			pdb := &pdbs[i]
			// Pods on their way out are no longer the budget's to guard.
			blocks := func(p *corev1.Pod) bool { return p.DeletionTimestamp == nil && rebalance.BudgetBlocks(pdb, p) }
			if pdb.Namespace != st.Namespace || !slices.ContainsFunc(pods, blocks) {
				continue
			}
			st.BlockingBudgets = append(st.BlockingBudgets, BlockingBudget{Name: pdb.Name, Ready: pdb.Status.CurrentHealthy, Pods: pdb.Status.ExpectedPods,
				Processing: pdb.Status.ObservedGeneration < pdb.Generation})
		}
	}
}
