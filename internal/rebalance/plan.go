// Package rebalance plans and carries out moves of running pods that bring
// the nodes' CPU request fractions towards the cluster's mean: the fix the
// job site applied by hand when the default scheduler had starved two nodes.
// The planner is pure (plan.go); the executor (execute.go) evicts one replica
// at a time through the Eviction API, so PodDisruptionBudgets hold.
//
// # Planner
//
// With f_i = requested CPU / allocatable CPU of node i, the planner greedily
// minimises the variance of f over the nodes: each step moves one movable
// pod from the most loaded node to the least loaded one where it fits (CPU
// and memory), choosing the pod that lowers the variance most, and stops when
// no move lowers it by more than MinGain or after MaxMoves. A pod is movable
// when a ReplicaSet or StatefulSet controls it (its controller recreates it
// elsewhere); each pod moves at most once.
package rebalance

import (
	"math"
	"slices"

	"github.com/zzcloud/zz/internal/balance"
)

// Pod is a running pod as the planner needs it.
type Pod struct {
	Namespace, Name string
	// App names the controller whose replica this is (namespace/kind/name).
	App      string
	Requests balance.Resources
	// Unmovable says why the pod cannot be moved ("" when it can).
	Unmovable string
}

// Node is a node with its pods.
type Node struct {
	Name        string
	Allocatable balance.Resources
	Pods        []Pod
}

// Move is one planned eviction: the pod leaves From and, if the scheduler
// does as the plan expects, its replacement lands on To.
type Move struct {
	Pod      Pod
	From, To string
}

// Spread describes the nodes' CPU request fractions.
type Spread struct {
	Range, CV, Mean, Max, Min float64
}

// Plan is the planner's answer.
type Plan struct {
	Moves []Move
	// Before is the spread now; After the spread once every move is done.
	Before, After Spread
}

// Options bound the plan.
type Options struct {
	MaxMoves int     // at most this many moves (0: 50)
	MinGain  float64 // stop when a move lowers the variance by less (0: 1e-6)
}

type state struct {
	nodes []Node
	used  []balance.Resources
}

// Compute returns the moves that bring the nodes towards the mean.
func Compute(nodes []Node, o Options) Plan {
	if o.MaxMoves <= 0 {
		o.MaxMoves = 50
	}
	if o.MinGain <= 0 {
		o.MinGain = 1e-6
	}
	s := state{nodes: slices.Clone(nodes), used: make([]balance.Resources, len(nodes))}
	for i := range nodes {
		for _, p := range nodes[i].Pods {
			s.used[i].MilliCPU += p.Requests.MilliCPU
			s.used[i].Memory += p.Requests.Memory
		}
	}
	plan := Plan{Before: s.spread()}
	moved := map[string]bool{}
	for len(plan.Moves) < o.MaxMoves {
		m, ok := s.bestMove(moved, o.MinGain)
		if !ok {
			break
		}
		plan.Moves = append(plan.Moves, m)
		moved[m.Pod.Namespace+"/"+m.Pod.Name] = true
	}
	plan.After = s.spread()
	return plan
}

func (s *state) frac(i int) float64 {
	if s.nodes[i].Allocatable.MilliCPU <= 0 {
		return 0
	}
	return float64(s.used[i].MilliCPU) / float64(s.nodes[i].Allocatable.MilliCPU)
}

func (s *state) fractions() []float64 {
	f := make([]float64, 0, len(s.nodes))
	for i := range s.nodes {
		if s.nodes[i].Allocatable.MilliCPU > 0 {
			f = append(f, s.frac(i))
		}
	}
	return f
}

func (s *state) spread() Spread {
	return SpreadOf(s.fractions())
}

// SpreadOf is the range, coefficient of variation, mean, max and min of f.
func SpreadOf(f []float64) Spread {
	if len(f) == 0 {
		return Spread{}
	}
	var sum float64
	for _, x := range f {
		sum += x
	}
	m := sum / float64(len(f))
	var ss float64
	for _, x := range f {
		ss += (x - m) * (x - m)
	}
	sp := Spread{Mean: m, Max: slices.Max(f), Min: slices.Min(f)}
	sp.Range = sp.Max - sp.Min
	if m > 0 {
		sp.CV = math.Sqrt(ss/float64(len(f))) / m
	}
	return sp
}

// bestMove applies and returns the move from the most to the least loaded
// node that lowers the variance most.
func (s *state) bestMove(moved map[string]bool, minGain float64) (Move, bool) {
	hi, lo := -1, -1
	for i := range s.nodes {
		if s.nodes[i].Allocatable.MilliCPU <= 0 {
			continue
		}
		if hi < 0 || s.frac(i) > s.frac(hi) {
			hi = i
		}
		if lo < 0 || s.frac(i) < s.frac(lo) {
			lo = i
		}
	}
	if hi < 0 || hi == lo {
		return Move{}, false
	}
	// Only the two nodes change: the variance after follows from the sums.
	n, sum, sumSq := 0.0, 0.0, 0.0
	for i := range s.nodes {
		if s.nodes[i].Allocatable.MilliCPU > 0 {
			n, sum, sumSq = n+1, sum+s.frac(i), sumSq+sq(s.frac(i))
		}
	}
	variance := func(sum, sumSq float64) float64 { return sumSq/n - sq(sum/n) }
	now := variance(sum, sumSq)
	best, bestGain := -1, minGain
	for j, p := range s.nodes[hi].Pods {
		if p.Unmovable != "" || moved[p.Namespace+"/"+p.Name] || !s.fits(lo, p.Requests) {
			continue
		}
		fh := float64(s.used[hi].MilliCPU-p.Requests.MilliCPU) / float64(s.nodes[hi].Allocatable.MilliCPU)
		fl := float64(s.used[lo].MilliCPU+p.Requests.MilliCPU) / float64(s.nodes[lo].Allocatable.MilliCPU)
		after := variance(sum-s.frac(hi)-s.frac(lo)+fh+fl, sumSq-sq(s.frac(hi))-sq(s.frac(lo))+sq(fh)+sq(fl))
		if gain := now - after; gain > bestGain {
			best, bestGain = j, gain
		}
	}
	if best < 0 {
		return Move{}, false
	}
	p := s.nodes[hi].Pods[best]
	s.nodes[hi].Pods = slices.Delete(slices.Clone(s.nodes[hi].Pods), best, best+1)
	s.nodes[lo].Pods = append(slices.Clone(s.nodes[lo].Pods), p)
	s.used[hi].MilliCPU -= p.Requests.MilliCPU
	s.used[hi].Memory -= p.Requests.Memory
	s.used[lo].MilliCPU += p.Requests.MilliCPU
	s.used[lo].Memory += p.Requests.Memory
	return Move{Pod: p, From: s.nodes[hi].Name, To: s.nodes[lo].Name}, true
}

func (s *state) fits(i int, r balance.Resources) bool {
	a := s.nodes[i].Allocatable
	return s.used[i].MilliCPU+r.MilliCPU <= a.MilliCPU && s.used[i].Memory+r.Memory <= a.Memory
}

func sq(x float64) float64 { return x * x }
