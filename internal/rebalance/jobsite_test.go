package rebalance

import (
	"fmt"
	"testing"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/balance/jobsite"
)

// jobSiteNodes is the job site's stream placed by the extender's score
// (jobsite.Place) as the planner reads it: every pod of the stream a
// replica that can move, the starved nodes' ballast pinned.
func jobSiteNodes(seed uint64) []Node {
	p := jobsite.Place(seed, 20, 0.75, balance.Default)
	nodes := make([]Node, len(p.Nodes))
	for i, n := range p.Nodes {
		nodes[i] = Node{Name: n.Name, Allocatable: n.Allocatable}
		if i < jobsite.BallastNodes {
			nodes[i].Pods = append(nodes[i].Pods, Pod{Namespace: "other", Name: "ballast-" + n.Name, Requests: jobsite.Ballast, Unmovable: ReasonNoController})
		}
		for j, pod := range p.Pods[i] {
			nodes[i].Pods = append(nodes[i].Pods, Pod{Namespace: "ns", Name: fmt.Sprintf("%s-%s-%d", pod.App, n.Name, j),
				App: "ns/ReplicaSet/" + pod.App, Requests: pod.Kind.Requests})
		}
	}
	return nodes
}

// TestJobSiteRebalance: the job site's targets (CPU request fractions
// within 0.05 of each other, CV at most 0.02), out of reach of any
// placement that decides one pod at a time on that stream (a 4-CPU pod is
// 0.084 of a node), are met by the extender's placement followed by a
// rebalance of at most 10 moves, on every one of 20 seeds.
func TestJobSiteRebalance(t *testing.T) {
	const seeds, maxMoves = 20, 10
	var r0, cv0, r1, cv1, moves float64
	for seed := range uint64(seeds) {
		plan := Compute(jobSiteNodes(seed+1), Options{MaxMoves: maxMoves})
		if plan.After.Range > 0.05 || plan.After.CV > 0.02 {
			t.Errorf("seed %d: range %.3f → %.3f, CV %.4f → %.4f after %d moves; want at most 0.05 and 0.02",
				seed+1, plan.Before.Range, plan.After.Range, plan.Before.CV, plan.After.CV, len(plan.Moves))
		}
		r0, cv0, r1, cv1 = r0+plan.Before.Range/seeds, cv0+plan.Before.CV/seeds, r1+plan.After.Range/seeds, cv1+plan.After.CV/seeds
		moves += float64(len(plan.Moves)) / seeds
	}
	t.Logf("job site, %d seeds: placed range %.3f, CV %.4f; after a rebalance of %.1f moves (at most %d) range %.3f, CV %.4f",
		seeds, r0, cv0, moves, maxMoves, r1, cv1)
}
