package balance

import "testing"

const gi = int64(1) << 30

func node(name string, cpuFrac, memFrac float64, app int) Node {
	return Node{Name: name, Allocatable: Resources{MilliCPU: 16000, Memory: 64 * gi},
		Requested: Resources{MilliCPU: int64(cpuFrac * 16000), Memory: int64(memFrac * float64(64*gi))}, AppPods: app}
}

func TestScores(t *testing.T) {
	memHeavy := Resources{MilliCPU: 500, Memory: 8 * gi}
	cpuHeavy := Resources{MilliCPU: 4000, Memory: 1 * gi}
	even := Resources{MilliCPU: 1600, Memory: 6 * gi}
	tests := []struct {
		name  string
		nodes []Node
		pod   Resources
		best  string // the node that must score highest
		zero  []string
	}{{
		// The production case: CPU 38% vs memory 7%. A memory-heavy pod must
		// go there, evening it out, not to the balanced node.
		name:  "imbalanced node takes the pod that evens it",
		nodes: []Node{node("skewed", 0.38, 0.07, 0), node("balanced", 0.22, 0.22, 0)},
		pod:   memHeavy, best: "skewed",
	}, {
		name:  "a CPU-heavy pod avoids the CPU-skewed node",
		nodes: []Node{node("skewed", 0.38, 0.07, 0), node("balanced", 0.22, 0.22, 0)},
		pod:   cpuHeavy, best: "balanced",
	}, {
		name:  "under-loaded node is brought towards the mean",
		nodes: []Node{node("busy", 0.7, 0.7, 0), node("idle", 0.1, 0.1, 0), node("mid", 0.4, 0.4, 0)},
		pod:   even, best: "idle",
	}, {
		name:  "replicas spread across hosts when all else is equal",
		nodes: []Node{node("a", 0.3, 0.3, 2), node("b", 0.3, 0.3, 0), node("c", 0.3, 0.3, 1)},
		pod:   even, best: "b",
	}, {
		name:  "a node the pod does not fit scores zero",
		nodes: []Node{node("full", 0.99, 0.5, 0), node("ok", 0.5, 0.5, 0)},
		pod:   cpuHeavy, best: "ok", zero: []string{"full"},
	}, {
		name:  "no node fits: no best",
		nodes: []Node{node("full", 0.99, 0.5, 0)},
		pod:   cpuHeavy, zero: []string{"full"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scores, best := Scores(tt.nodes, tt.pod, ClusterMean(tt.nodes), Default)
			bestIdx := -1
			for i, n := range tt.nodes {
				if n.Name == tt.best {
					bestIdx = i
				}
				if scores[i] < 0 || scores[i] > MaxScore {
					t.Errorf("score %d of %s out of range", scores[i], n.Name)
				}
			}
			if best != bestIdx {
				t.Errorf("best = %d, want %d (%s)", best, bestIdx, tt.best)
			}
			for i, n := range tt.nodes {
				if bestIdx >= 0 && i != bestIdx && scores[i] >= scores[bestIdx] {
					t.Errorf("%s scored %d >= %s's %d (all: %v)", n.Name, scores[i], tt.best, scores[bestIdx], scores)
				}
				for _, z := range tt.zero {
					if n.Name == z && scores[i] != 0 {
						t.Errorf("%s scored %d, want 0", z, scores[i])
					}
				}
			}
		})
	}
}

func TestClusterMeanIgnoresEmptyNodes(t *testing.T) {
	nodes := []Node{node("a", 0.2, 0.4, 0), node("b", 0.4, 0.2, 0), {Name: "no-alloc"}}
	if got := ClusterMean(nodes); got.CPU < 0.2999 || got.CPU > 0.3001 || got.Memory < 0.2999 || got.Memory > 0.3001 {
		t.Fatalf("mean = %+v, want 0.3/0.3", got)
	}
	if ClusterMean(nil) != (Mean{}) {
		t.Fatal("mean of nothing must be 0")
	}
}

// TestImbalanceIsAgainstTheCluster: when the whole cluster is CPU-heavy, a
// node at the cluster's ratio is not pushed towards 50/50.
func TestImbalanceIsAgainstTheCluster(t *testing.T) {
	nodes := []Node{node("at-ratio", 0.5, 0.3, 0), node("evened", 0.4, 0.4, 0), node("ref", 0.6, 0.2, 0)}
	mean := ClusterMean(nodes) // 0.5 CPU, 0.3 memory
	if g, _ := Gain(&nodes[0], Resources{}, mean, Default); g != 0 {
		t.Fatalf("gain of nothing = %v", g)
	}
	if cost(0.5, 0.3, mean, Default) > 1e-12 {
		t.Fatal("a node at the cluster's means must cost nothing")
	}
	if cost(0.4, 0.4, mean, Default) <= 0 {
		t.Fatal("a 50/50 node in a CPU-heavy cluster is off the cluster's ratio")
	}
}
