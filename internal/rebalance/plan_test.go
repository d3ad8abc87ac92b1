package rebalance

import (
	"fmt"
	"math"
	"testing"

	"github.com/zzcloud/zz/internal/balance"
)

const gi = 1 << 30

func node(name string, cpu int64, pods ...Pod) Node {
	return Node{Name: name, Allocatable: balance.Resources{MilliCPU: cpu, Memory: 64 * gi}, Pods: pods}
}

func pod(name string, cpu int64) Pod {
	return Pod{Namespace: "ns", Name: name, App: "ns/ReplicaSet/" + name[:1], Requests: balance.Resources{MilliCPU: cpu, Memory: gi}}
}

func pinned(name string, cpu int64, why string) Pod {
	p := pod(name, cpu)
	p.Unmovable = why
	return p
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name      string
		nodes     []Node
		opts      Options
		wantMoves []string // pod:from>to
		wantRange float64
	}{
		{"even cluster: nothing to do",
			[]Node{node("a", 10000, pod("a1", 4000)), node("b", 10000, pod("b1", 4000))}, Options{}, nil, 0},
		{"one move halves the gap",
			[]Node{node("a", 10000, pod("a1", 2000), pod("a2", 2000), pod("a3", 2000)), node("b", 10000)}, Options{},
			[]string{"a1:a>b"}, 0.2},
		{"picks the pod that evens best",
			[]Node{node("a", 10000, pod("a1", 500), pod("a2", 3000), pod("a3", 4500)), node("b", 10000, pod("b1", 2000))}, Options{},
			[]string{"a2:a>b"}, 0},
		{"a starved node gets pods from loaded ones",
			[]Node{node("a", 10000, pod("a1", 3000), pod("a2", 3000)), node("b", 10000, pod("b1", 3000), pod("b2", 3000)), node("c", 10000)}, Options{},
			[]string{"a1:a>c"}, 0.3},
		{"two starved nodes",
			[]Node{node("a", 10000, pod("a1", 2000), pod("a2", 2000), pod("a3", 2000)), node("b", 10000, pod("b1", 2000), pod("b2", 2000), pod("b3", 2000)), node("c", 10000), node("d", 10000)}, Options{},
			[]string{"a1:a>c", "b1:b>d"}, 0.2},
		{"pods without a controller stay",
			[]Node{node("a", 10000, pinned("a1", 3000, "no controller"), pinned("a2", 3000, "no controller")), node("b", 10000)}, Options{}, nil, 0.6},
		{"a pod that does not fit stays",
			[]Node{node("a", 10000, pod("a1", 6000)), node("b", 4000)}, Options{}, nil, 0.6},
		{"a move that would not lower the spread is not made",
			[]Node{node("a", 10000, pod("a1", 4000)), node("b", 10000)}, Options{}, nil, 0.4},
		{"max moves",
			[]Node{node("a", 10000, pod("a1", 2000), pod("a2", 2000), pod("a3", 2000), pod("a4", 2000)), node("b", 10000), node("c", 10000)}, Options{MaxMoves: 1},
			[]string{"a1:a>b"}, 0.6},
		{"nodes of different sizes",
			[]Node{node("a", 10000, pod("a1", 2000), pod("a2", 2000), pod("a3", 2000)), node("b", 20000)}, Options{},
			[]string{"a1:a>b", "a2:a>b"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Compute(tt.nodes, tt.opts)
			var got []string
			for _, m := range plan.Moves {
				got = append(got, fmt.Sprintf("%s:%s>%s", m.Pod.Name, m.From, m.To))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantMoves) {
				t.Errorf("moves %v, want %v", got, tt.wantMoves)
			}
			if math.Abs(plan.After.Range-tt.wantRange) > 1e-9 {
				t.Errorf("range after %.3f, want %.3f", plan.After.Range, tt.wantRange)
			}
			if plan.After.Range > plan.Before.Range+1e-9 {
				t.Errorf("range grew from %.3f to %.3f", plan.Before.Range, plan.After.Range)
			}
		})
	}
}

// TestComputeLeavesItsInputAlone: the caller's nodes keep their pods.
func TestComputeLeavesItsInputAlone(t *testing.T) {
	nodes := []Node{node("a", 10000, pod("a1", 2000), pod("a2", 2000), pod("a3", 2000)), node("b", 10000)}
	Compute(nodes, Options{})
	if len(nodes[0].Pods) != 3 || len(nodes[1].Pods) != 0 {
		t.Fatalf("input changed: %d and %d pods", len(nodes[0].Pods), len(nodes[1].Pods))
	}
}

func TestSpreadOf(t *testing.T) {
	tests := []struct {
		f             []float64
		rng, cv, mean float64
	}{
		{nil, 0, 0, 0},
		{[]float64{0.5, 0.5}, 0, 0, 0.5},
		{[]float64{0.2, 0.6}, 0.4, 0.5, 0.4},
		{[]float64{0, 0}, 0, 0, 0},
	}
	for _, tt := range tests {
		s := SpreadOf(tt.f)
		if math.Abs(s.Range-tt.rng) > 1e-9 || math.Abs(s.CV-tt.cv) > 1e-9 || math.Abs(s.Mean-tt.mean) > 1e-9 {
			t.Errorf("SpreadOf(%v) = %+v, want range %v, CV %v, mean %v", tt.f, s, tt.rng, tt.cv, tt.mean)
		}
	}
}
