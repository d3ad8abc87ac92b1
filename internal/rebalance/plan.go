// Package rebalance plans and carries out moves of running pods that bring
// the nodes' CPU and memory request fractions towards the cluster's means:
// the fix the job site applied by hand when the default scheduler had
// starved two nodes. The planner is pure (plan.go); the executor
// (execute.go) evicts one replica at a time through the Eviction API, so
// PodDisruptionBudgets hold.
//
// # Planner
//
// With fc_i and fm_i the requested / allocatable CPU and memory of node i,
// the planner greedily minimises Σ_i (fc_i − μc)² + (fm_i − μm)², the cost
// the balance extender minimises when it places a pod (internal/balance):
// each step moves one movable pod off the node furthest above the means
// that has a useful move, to the node where the move lowers the cost most,
// among the nodes the scheduler could place the pod on (room for every
// resource it requests, its node selector and affinity, taints, volumes,
// host ports, pod (anti-)affinity and topology spread: fit.go), and stops
// when no move lowers the cost by more than MinGain or after MaxMoves. The
// replacement is placed by the extender with the same cost, so it lands
// where the plan expects. A pod is movable when a ReplicaSet or StatefulSet
// controls it (its controller recreates it elsewhere); each pod moves at
// most once.
package rebalance

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/balance"
)

// Pod is a running pod as the planner needs it.
type Pod struct {
	Namespace, Name string
	// App names the controller whose replica this is (namespace/kind/name).
	App string
	// SpreadKey is the app the balance extender spreads its replicas by
	// (balance.AppKey); "" counts it in no app.
	SpreadKey string
	Labels    map[string]string
	// Scheduler is the scheduler that places its replacement.
	Scheduler string
	Requests  balance.Resources
	// Other are its requests of every other resource (zz.io/gpu-mem,
	// nvidia.com/gpu, ephemeral-storage, ...).
	Other map[corev1.ResourceName]int64
	// HostPorts are the host ports it holds (HostPorts), pinned pods' too:
	// a DaemonSet's port is as taken as any.
	HostPorts []string
	// Repels are its required anti-affinity terms (Repels), pinned pods'
	// too: they keep the pods they match off its node or domain.
	Repels []Repel
	// Unmovable says why the pod cannot be moved ("" when it can).
	Unmovable string
	// Constraints say which nodes the scheduler could place its
	// replacement on; nil: any with room and no taint.
	Constraints *Constraints
}

// Node is a node with its pods.
type Node struct {
	Name        string
	Labels      map[string]string
	Taints      []corev1.Taint
	Allocatable balance.Resources
	// Other is the allocatable of every other resource; "pods" is how
	// many pods it takes (no limit when absent).
	Other map[corev1.ResourceName]int64
	Pods  []Pod
}

// Move is one planned eviction: the pod leaves From and, if the scheduler
// does as the plan expects, its replacement lands on To.
type Move struct {
	Pod      Pod
	From, To string
}

// Spread describes the nodes' request fractions of one resource.
type Spread struct {
	Range, CV, Mean, Max, Min float64
}

// Plan is the planner's answer.
type Plan struct {
	Moves []Move
	// Before is the spread of the CPU request fractions now; After the
	// spread once every move is done. BeforeMemory and AfterMemory are the
	// memory's.
	Before, After             Spread
	BeforeMemory, AfterMemory Spread
}

// Options bound the plan.
type Options struct {
	MaxMoves int     // at most this many moves (0: 50)
	MinGain  float64 // stop when a move lowers the cost by less (0: 1e-6)
}

type state struct {
	nodes     []Node
	used      []balance.Resources
	usedOther []map[corev1.ResourceName]int64
	// domains are the pods' anti-affinity terms on keys other than the
	// hostname, by key and domain (repelDomains).
	domains map[string]map[string][]podTerm
}

// Compute returns the moves that bring the nodes towards the mean.
func Compute(nodes []Node, o Options) Plan {
	if o.MaxMoves <= 0 {
		o.MaxMoves = 50
	}
	if o.MinGain <= 0 {
		o.MinGain = 1e-6
	}
	s := newState(nodes)
	s.domains = repelDomains(nodes)
	plan := Plan{Before: s.spread(cpuOf), BeforeMemory: s.spread(memoryOf)}
	moved := map[string]bool{}
	for len(plan.Moves) < o.MaxMoves {
		m, ok := s.bestMove(moved, o.MinGain)
		if !ok {
			break
		}
		plan.Moves = append(plan.Moves, m)
		moved[m.Pod.Namespace+"/"+m.Pod.Name] = true
	}
	plan.After, plan.AfterMemory = s.spread(cpuOf), s.spread(memoryOf)
	return plan
}

// newState counts what the nodes' pods request.
func newState(nodes []Node) *state {
	s := &state{nodes: slices.Clone(nodes), used: make([]balance.Resources, len(nodes)), usedOther: make([]map[corev1.ResourceName]int64, len(nodes))}
	for i := range nodes {
		s.usedOther[i] = map[corev1.ResourceName]int64{}
		for j := range nodes[i].Pods {
			s.add(i, &nodes[i].Pods[j], 1)
		}
	}
	return s
}

// Measure is the spread of the nodes' CPU and memory request fractions as
// they are, without planning anything.
func Measure(nodes []Node) (cpu, memory Spread) {
	s := newState(nodes)
	return s.spread(cpuOf), s.spread(memoryOf)
}

// One resource of balance.Resources.
func cpuOf(r balance.Resources) int64    { return r.MilliCPU }
func memoryOf(r balance.Resources) int64 { return r.Memory }

// fraction is what of node i's allocatable of one resource is requested,
// with used instead of what its pods request now.
func (s *state) fraction(i int, of func(balance.Resources) int64, used balance.Resources) float64 {
	if a := of(s.nodes[i].Allocatable); a > 0 {
		return float64(of(used)) / float64(a)
	}
	return 0
}

// counted reports whether node i counts in the spread: nodes without
// allocatable CPU take no pods.
func (s *state) counted(i int) bool { return s.nodes[i].Allocatable.MilliCPU > 0 }

func (s *state) spread(of func(balance.Resources) int64) Spread {
	f := make([]float64, 0, len(s.nodes))
	for i := range s.nodes {
		if s.counted(i) {
			f = append(f, s.fraction(i, of, s.used[i]))
		}
	}
	return SpreadOf(f)
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

// moments are the sums behind the cost: per resource, the sum of the
// nodes' fractions and of their squares.
type moments struct{ n, c, cc, m, mm float64 }

// cost is the extender's balance objective over the nodes: per node,
// (fc − μc)² + (fm − μm)², each resource's distance from the cluster's
// mean (internal/balance), summed; n times the variances.
func (k moments) cost() float64 {
	if k.n == 0 {
		return 0
	}
	return k.cc - k.c*k.c/k.n + k.mm - k.m*k.m/k.n
}

// with is k with node i's fractions at used instead of its own.
func (s *state) with(k moments, i int, used balance.Resources) moments {
	c0, m0 := s.fraction(i, cpuOf, s.used[i]), s.fraction(i, memoryOf, s.used[i])
	c1, m1 := s.fraction(i, cpuOf, used), s.fraction(i, memoryOf, used)
	return moments{k.n, k.c - c0 + c1, k.cc - c0*c0 + c1*c1, k.m - m0 + m1, k.mm - m0*m0 + m1*m1}
}

// bestMove applies and returns the move that lowers the cost most off the
// most loaded node that has one: one of its pods to any node it may go to.
// The cost is the one the balance extender minimises when it places the
// replacement, so the node the plan expects is the one the extender
// prefers. A loaded node whose pods are all pinned (or fit nowhere useful)
// is passed over for the next.
func (s *state) bestMove(moved map[string]bool, minGain float64) (Move, bool) {
	var order []int
	var k moments
	for i := range s.nodes {
		if !s.counted(i) {
			continue
		}
		order = append(order, i)
		c, m := s.fraction(i, cpuOf, s.used[i]), s.fraction(i, memoryOf, s.used[i])
		k = moments{k.n + 1, k.c + c, k.cc + c*c, k.m + m, k.mm + m*m}
	}
	if len(order) < 2 {
		return Move{}, false
	}
	// How far a node is above the means: the sources, most loaded first.
	above := make(map[int]float64, len(order))
	for _, i := range order {
		above[i] = sq(max(s.fraction(i, cpuOf, s.used[i])-k.c/k.n, 0)) + sq(max(s.fraction(i, memoryOf, s.used[i])-k.m/k.n, 0))
	}
	sources := slices.Clone(order)
	slices.SortStableFunc(sources, func(a, b int) int { return cmp.Compare(above[b], above[a]) })
	now := k.cost()
	for _, hi := range sources {
		if above[hi] == 0 {
			break // moving off a node at or below both means only adds to the cost
		}
		best, to, bestGain := -1, -1, minGain
		for j := range s.nodes[hi].Pods {
			p := &s.nodes[hi].Pods[j]
			if p.Unmovable != "" || moved[p.Namespace+"/"+p.Name] {
				continue
			}
			lo := s.extenderTarget(hi, p, order, balance.Mean{CPU: k.c / k.n, Memory: k.m / k.n})
			if lo < 0 || lo == hi {
				continue // nowhere, or the extender would send it back
			}
			kh := s.with(k, hi, balance.Resources{MilliCPU: s.used[hi].MilliCPU - p.Requests.MilliCPU, Memory: s.used[hi].Memory - p.Requests.Memory})
			kl := s.with(kh, lo, balance.Resources{MilliCPU: s.used[lo].MilliCPU + p.Requests.MilliCPU, Memory: s.used[lo].Memory + p.Requests.Memory})
			if gain := now - kl.cost(); gain > bestGain {
				best, to, bestGain = j, lo, gain
			}
		}
		if best < 0 {
			continue
		}
		p := s.nodes[hi].Pods[best]
		s.add(hi, &p, -1)
		s.nodes[hi].Pods = slices.Delete(slices.Clone(s.nodes[hi].Pods), best, best+1)
		s.add(to, &p, 1)
		s.nodes[to].Pods = append(slices.Clone(s.nodes[to].Pods), p)
		return Move{Pod: p, From: s.nodes[hi].Name, To: s.nodes[to].Name}, true
	}
	return Move{}, false
}

// extenderTarget is the node the balance extender would send p's
// replacement to: the best balance.Scores, with its weights and the app's
// pods per node for its spread term, among the nodes the scheduler could
// place it on. The replacement is scheduled while p is still terminating on
// node from, and both the scheduler and the extender's book still count it
// there (its requests, its app's pod, the mean), so from is a candidate only
// with room for a second copy. The plan then expects where the extender
// really sends the pod, and never moves one it would send back. -1 when no
// node may take it. mean is the cluster's, p still counted.
func (s *state) extenderTarget(from int, p *Pod, order []int, mean balance.Mean) int {
	var cands []int
	var nodes []balance.Node
	for _, i := range order {
		if !s.fits(i, p) || !p.Constraints.allows(p, &s.nodes[from], &s.nodes[i]) || repelled(p, &s.nodes[from], &s.nodes[i], s.domains) {
			continue
		}
		apps := 0
		if p.SpreadKey != "" {
			for _, q := range s.nodes[i].Pods {
				if q.SpreadKey == p.SpreadKey {
					apps++
				}
			}
		}
		cands = append(cands, i)
		nodes = append(nodes, balance.Node{Name: s.nodes[i].Name, Allocatable: s.nodes[i].Allocatable, Requested: s.used[i], AppPods: apps})
	}
	if _, best := balance.Scores(nodes, p.Requests, mean, balance.Default); best >= 0 {
		return cands[best]
	}
	return -1
}

// add counts p's requests on node i (sign -1 takes them off).
func (s *state) add(i int, p *Pod, sign int64) {
	s.used[i].MilliCPU += sign * p.Requests.MilliCPU
	s.used[i].Memory += sign * p.Requests.Memory
	for r, v := range p.Other {
		s.usedOther[i][r] += sign * v
	}
}

// fits reports room on node i for p: CPU, memory, every other resource it
// requests (a node without one has none), and a pod slot.
func (s *state) fits(i int, p *Pod) bool {
	a, u := s.nodes[i].Allocatable, s.used[i]
	if u.MilliCPU+p.Requests.MilliCPU > a.MilliCPU || u.Memory+p.Requests.Memory > a.Memory {
		return false
	}
	for r, v := range p.Other {
		if v > 0 && s.usedOther[i][r]+v > s.nodes[i].Other[r] {
			return false
		}
	}
	slots, limited := s.nodes[i].Other[corev1.ResourcePods]
	return !limited || int64(len(s.nodes[i].Pods)) < slots
}

func sq(x float64) float64 { return x * x }

// Kept says how many pods of the nodes are never moved, and why, one line a
// reason (each said of one pod), most common first: "4  its GPU memory ...",
// "1  no controller: ...".
func Kept(nodes []Node) string {
	count := map[string]int{}
	for i := range nodes {
		for _, p := range nodes[i].Pods {
			if p.Unmovable != "" {
				count[p.Unmovable]++
			}
		}
	}
	reasons := slices.Collect(maps.Keys(count))
	slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(cmp.Compare(count[b], count[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d  %s", count[r], r)
	}
	return strings.Join(parts, "\n")
}
