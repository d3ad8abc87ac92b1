// Package jobsite is the job site's case, the benchmark the balance
// extender and kubectl zz rebalance are measured on: nodes of 47.8 cores /
// 251 GiB, two of them starting at the CPU 39% / memory 7% the default
// scheduler had starved, and a stream of java, web, cache and batch pods of
// 120 apps. The unit tests of internal/balance and internal/rebalance and
// the cluster benchmark (test/e2e, make bench-e2e) draw the same stream
// from here, seed for seed.
package jobsite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/zzcloud/zz/internal/balance"
)

// Allocatable is one node's.
var Allocatable = balance.Resources{MilliCPU: 47800, Memory: 251 << 30}

// BallastNodes is how many nodes start loaded, each with Ballast.
const BallastNodes = 2

// Ballast is what the starved nodes run before the stream: 39% of their CPU,
// 7% of their memory.
var Ballast = balance.Resources{MilliCPU: Allocatable.MilliCPU * 39 / 100, Memory: Allocatable.Memory * 7 / 100}

// Kind is one kind of pod of the stream.
type Kind struct {
	Name     string
	Requests balance.Resources
	Share    float64
}

// Mix is the stream's kinds and their shares.
var Mix = []Kind{
	{"java", balance.Resources{MilliCPU: 2000, Memory: 4 << 30}, 0.35},
	{"web", balance.Resources{MilliCPU: 1000, Memory: 1 << 30}, 0.35},
	{"cache", balance.Resources{MilliCPU: 500, Memory: 8 << 30}, 0.15},
	{"batch", balance.Resources{MilliCPU: 4000, Memory: 2 << 30}, 0.15},
}

// Stream draws the stream's pods.
type Stream struct{ rng *rand.Rand }

// NewStream is the stream of one seed.
func NewStream(seed uint64) *Stream { return &Stream{rng: rand.New(rand.NewPCG(seed, 0x10b5))} }

// Next is the next pod's kind and app: many apps of a few replicas each,
// as on a real cluster.
func (s *Stream) Next() (Kind, string) {
	x := s.rng.Float64()
	k := Mix[len(Mix)-1]
	for _, c := range Mix {
		if x -= c.Share; x < 0 {
			k = c
			break
		}
	}
	return k, fmt.Sprintf("%s-%02d", k.Name, s.rng.IntN(30))
}

// Pod is one placed pod of the stream.
type Pod struct {
	Kind Kind
	App  string
}

// Placement is the stream placed on n nodes.
type Placement struct {
	Nodes []balance.Node
	// Pods are each node's pods of the stream (the ballast aside).
	Pods [][]Pod
}

// Place places seed's stream on n nodes until its requests reach fill of
// the cluster's CPU, one pod at a time on the best node by the extender's
// score with weights w, every earlier placement known exactly (no
// scheduler, no informer lag): what this placement achieves at best.
func Place(seed uint64, n int, fill float64, w balance.Weights) Placement {
	p := Placement{Nodes: make([]balance.Node, n), Pods: make([][]Pod, n)}
	apps := make([]map[string]int, n)
	var used int64
	for i := range p.Nodes {
		p.Nodes[i] = balance.Node{Name: fmt.Sprint(i), Allocatable: Allocatable}
		apps[i] = map[string]int{}
		if i < BallastNodes {
			p.Nodes[i].Requested = Ballast
			used += Ballast.MilliCPU
		}
	}
	src := NewStream(seed)
	for float64(used) < fill*float64(Allocatable.MilliCPU*int64(n)) {
		k, app := src.Next()
		for i := range p.Nodes {
			p.Nodes[i].AppPods = apps[i][app]
		}
		_, best := balance.Scores(p.Nodes, k.Requests, balance.ClusterMean(p.Nodes), w)
		if best < 0 {
			break
		}
		p.Nodes[best].Requested.MilliCPU += k.Requests.MilliCPU
		p.Nodes[best].Requested.Memory += k.Requests.Memory
		apps[best][app]++
		p.Pods[best] = append(p.Pods[best], Pod{Kind: k, App: app})
		used += k.Requests.MilliCPU
	}
	return p
}

// Spread is the range (max − min) and coefficient of variation of the
// fractions f.
func Spread(f []float64) (rangeF, cv float64) {
	if len(f) == 0 {
		return 0, 0
	}
	var sum, sq float64
	for _, x := range f {
		sum += x
	}
	mean := sum / float64(len(f))
	for _, x := range f {
		sq += (x - mean) * (x - mean)
	}
	if mean > 0 {
		cv = math.Sqrt(sq/float64(len(f))) / mean
	}
	return slices.Max(f) - slices.Min(f), cv
}

// CPUSpread is Spread of the nodes' CPU request fractions.
func CPUSpread(nodes []balance.Node) (rangeCPU, cv float64) {
	f := make([]float64, len(nodes))
	for i, n := range nodes {
		f[i] = float64(n.Requested.MilliCPU) / float64(n.Allocatable.MilliCPU)
	}
	return Spread(f)
}
