package rebalance

import (
	"fmt"
	"math"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/balance"
)

const gi = 1 << 30

func node(name string, cpu int64, pods ...Pod) Node {
	return Node{Name: name, Allocatable: balance.Resources{MilliCPU: cpu, Memory: 64 * gi}, Pods: pods}
}

func pod(name string, cpu int64) Pod {
	return Pod{Namespace: "ns", Name: name, App: "ns/ReplicaSet/" + name[:1], Requests: balance.Resources{MilliCPU: cpu, Memory: gi}}
}

func podMem(name string, cpu, memGi int64) Pod {
	p := pod(name, cpu)
	p.Requests.Memory = memGi * gi
	return p
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
		{"memory too: CPU even, memory not (the extender's cost)",
			[]Node{node("a", 10000, podMem("a1", 100, 12), podMem("a2", 100, 12), podMem("a3", 1800, 1)), node("b", 10000, podMem("b1", 2000, 1))}, Options{},
			[]string{"a1:a>b"}, 0.02},
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
			// The cost: both resources' variances.
			cost := func(c, m Spread) float64 { return sq(c.CV*c.Mean) + sq(m.CV*m.Mean) }
			if before, after := cost(plan.Before, plan.BeforeMemory), cost(plan.After, plan.AfterMemory); after > before+1e-12 {
				t.Errorf("the CPU and memory variances grew from %.6f to %.6f", before, after)
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

// constrained is pod(name, cpu) with the constraints of a pod spec that
// edit shapes (labels app=<first letter>).
func constrained(t *testing.T, name string, cpu int64, edit func(*corev1.Pod), pvs ...*corev1.PersistentVolume) Pod {
	t.Helper()
	p := pod(name, cpu)
	k := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: name, Labels: map[string]string{"app": name[:1]}}}
	edit(k)
	c, err := NewConstraints(k, pvs)
	if err != nil {
		t.Fatal(err)
	}
	p.Labels, p.Constraints, p.HostPorts = k.Labels, c, HostPorts(k)
	return p
}

// repelling is a pinned pod whose required anti-affinity on key keeps the
// pods labelled app=<app> away.
func repelling(t *testing.T, name, key, app string) Pod {
	t.Helper()
	k := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: corev1.PodSpec{Affinity: &corev1.Affinity{
		PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}}}}}
	p := pinned(name, 100, ReasonDaemonSet)
	p.Repels = Repels(k)
	return p
}

// daemon is a DaemonSet's pod holding host ports.
func daemon(name string, cpu int64, ports ...string) Pod {
	p := pinned(name, cpu, ReasonDaemonSet)
	p.HostPorts = ports
	return p
}

func labelledNode(n Node, kv ...string) Node {
	n.Labels = map[string]string{corev1.LabelHostname: n.Name}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Labels[kv[i]] = kv[i+1]
	}
	return n
}

// TestComputeKeepsToWhereTheSchedulerWouldPlace: a pod is planned only onto
// a node the scheduler could place its replacement on.
func TestComputeKeepsToWhereTheSchedulerWouldPlace(t *testing.T) {
	gpuPod := pod("g1", 3000)
	gpuPod.Other = map[corev1.ResourceName]int64{"nvidia.com/gpu": 1}
	gpuNode := func(n Node) Node { n.Other = map[corev1.ResourceName]int64{"nvidia.com/gpu": 8}; return n }
	tainted := node("b", 10000)
	tainted.Taints = []corev1.Taint{{Key: "dedicated", Value: "batch", Effect: corev1.TaintEffectNoSchedule}}
	antiWeb := func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}}}}}}
	}
	spreadWeb := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}}}}
	}
	zoneSpread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}}}}
	}
	localPV := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-a"}, Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{
		Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
			Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}}}}}
	hostPort := func(p *corev1.Pod) {
		p.Spec.Containers = []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}}}
	}
	full := node("b", 10000)
	full.Other = map[corev1.ResourceName]int64{corev1.ResourcePods: 0}
	tests := []struct {
		name      string
		nodes     []Node
		wantMoves []string
	}{
		{"a GPU pod goes only to a node with GPUs, not the emptiest",
			[]Node{gpuNode(node("a", 10000, gpuPod, pinned("a2", 3000, "no controller"))), node("b", 10000), gpuNode(node("c", 10000, pinned("c1", 1000, "no controller")))},
			[]string{"g1:a>c"}},
		{"a pool's pod stays in its pool",
			[]Node{labelledNode(node("a", 10000, constrained(t, "p1", 3000, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"pool": "a"} }), pod("a2", 3000)), "pool", "a"),
				labelledNode(node("b", 10000), "pool", "b")},
			[]string{"a2:a>b"}},
		{"a taint it does not tolerate",
			[]Node{node("a", 10000, pod("a1", 3000), pod("a2", 3000)), tainted}, nil},
		{"a taint it tolerates",
			[]Node{node("a", 10000, constrained(t, "a1", 3000, func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "batch", Effect: corev1.TaintEffectNoSchedule}}
			}), pod("a2", 3000)), tainted},
			[]string{"a1:a>b"}},
		{"required anti-affinity: not beside another replica",
			[]Node{labelledNode(node("a", 10000, constrained(t, "w1", 3000, antiWeb), pod("a2", 3000))),
				labelledNode(node("b", 10000, constrained(t, "w2", 500, antiWeb)))},
			[]string{"a2:a>b"}},
		{"topology spread on hosts: not where more replicas run",
			[]Node{labelledNode(node("a", 10000, constrained(t, "w1", 3000, spreadWeb), pod("a2", 1000))),
				labelledNode(node("b", 10000, constrained(t, "w2", 200, spreadWeb), constrained(t, "w3", 200, spreadWeb)))},
			[]string{"a2:a>b"}},
		{"topology spread on zones: only within the zone",
			[]Node{labelledNode(node("a", 10000, constrained(t, "w1", 3000, zoneSpread), pinned("a2", 3000, "no controller")), corev1.LabelTopologyZone, "z1"),
				labelledNode(node("b", 10000), corev1.LabelTopologyZone, "z2"), labelledNode(node("c", 10000, pinned("c1", 500, "no controller")), corev1.LabelTopologyZone, "z1")},
			[]string{"w1:a>c"}},
		{"a volume bound to its node",
			[]Node{labelledNode(node("a", 10000, constrained(t, "v1", 3000, func(*corev1.Pod) {}, localPV), pod("a2", 1000))), labelledNode(node("b", 10000))},
			[]string{"a2:a>b"}},
		{"a host port taken there, by a pod that never moves",
			[]Node{node("a", 10000, constrained(t, "h1", 3000, hostPort), pod("a2", 1000)), node("b", 10000, daemon("h2", 100, "TCP//8080"))},
			[]string{"a2:a>b"}},
		{"no pod slot left", []Node{node("a", 10000, pod("a1", 3000), pod("a2", 3000)), full}, nil},
		{"another pod's anti-affinity keeps it off that node",
			[]Node{labelledNode(node("a", 10000, constrained(t, "m1", 3000, func(*corev1.Pod) {}), pinned("a2", 3000, "no controller"))),
				labelledNode(node("b", 10000, repelling(t, "g1", corev1.LabelHostname, "m"))), labelledNode(node("c", 10000, pinned("c1", 1000, "no controller")))},
			[]string{"m1:a>c"}},
		{"another pod's anti-affinity on zones keeps it out of that zone",
			[]Node{labelledNode(node("a", 10000, constrained(t, "m1", 3000, func(*corev1.Pod) {}), pinned("a2", 3000, "no controller")), corev1.LabelTopologyZone, "z1"),
				labelledNode(node("b", 10000, repelling(t, "g1", corev1.LabelTopologyZone, "m")), corev1.LabelTopologyZone, "z2"),
				labelledNode(node("c", 10000), corev1.LabelTopologyZone, "z2"),
				labelledNode(node("d", 10000, pinned("d1", 1000, "no controller")), corev1.LabelTopologyZone, "z1")},
			[]string{"m1:a>d"}},
		{"the most loaded node's pods are pinned: the next one's move",
			[]Node{node("a", 10000, pinned("a1", 4000, "no controller"), pinned("a2", 4000, "no controller")), node("b", 10000, pod("b1", 3000), pod("b2", 3000)), node("c", 10000)},
			[]string{"b1:b>c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Compute(tt.nodes, Options{})
			var got []string
			for _, m := range plan.Moves {
				got = append(got, fmt.Sprintf("%s:%s>%s", m.Pod.Name, m.From, m.To))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantMoves) {
				t.Errorf("moves %v, want %v", got, tt.wantMoves)
			}
		})
	}
}

// TestKept: one line a reason, most common first, ties by reason.
func TestKept(t *testing.T) {
	nodes := []Node{
		{Name: "a", Pods: []Pod{pinned("g1", 100, ReasonGPUMemory), pinned("d1", 100, ReasonDaemonSet), {Namespace: "ns", Name: "free"}}},
		{Name: "b", Pods: []Pod{pinned("g2", 100, ReasonGPUMemory), pinned("n1", 100, ReasonNoController)}},
	}
	want := "2  " + ReasonGPUMemory + "\n1  " + ReasonDaemonSet + "\n1  " + ReasonNoController
	if got := Kept(nodes); got != want {
		t.Errorf("Kept =\n%s\nwant\n%s", got, want)
	}
	if got := Kept([]Node{{Name: "c", Pods: []Pod{{Namespace: "ns", Name: "free"}}}}); got != "" {
		t.Errorf("Kept of movable pods = %q", got)
	}
}

// TestComputeGoesWhereTheExtenderWould: the plan expects each replacement
// where the balance extender sends it (balance.Scores: its replica spread
// included).
func TestComputeGoesWhereTheExtenderWould(t *testing.T) {
	web := func(name string, cpu int64, why string) Pod {
		p := podMem(name, cpu, cpu/1000)
		p.SpreadKey, p.Unmovable = "ns/web", why
		return p
	}
	// b and c are equally loaded; b already runs a web replica, so the
	// extender's spread term sends a web pod from a to c (variance alone
	// ties them, and took the first).
	nodes := []Node{
		{Name: "a", Allocatable: balance.Resources{MilliCPU: 10000, Memory: 10 * gi}, Pods: []Pod{web("web-1", 2000, ""), web("web-2", 2000, ""), pinned("fa", 4000, ReasonDaemonSet)}},
		{Name: "b", Allocatable: balance.Resources{MilliCPU: 10000, Memory: 10 * gi}, Pods: []Pod{web("web-3", 2000, ReasonDaemonSet), pinned("fb", 1000, ReasonDaemonSet)}},
		{Name: "c", Allocatable: balance.Resources{MilliCPU: 10000, Memory: 10 * gi}, Pods: []Pod{pinned("fc", 3000, ReasonDaemonSet)}},
	}
	for i := range nodes {
		for j := range nodes[i].Pods {
			nodes[i].Pods[j].Requests.Memory = nodes[i].Pods[j].Requests.MilliCPU * gi / 1000
		}
	}
	plan := Compute(nodes, Options{MaxMoves: 1})
	if len(plan.Moves) != 1 || plan.Moves[0].From != "a" || plan.Moves[0].To != "c" {
		t.Fatalf("moves %+v, want one web pod a>c", plan.Moves)
	}
}
