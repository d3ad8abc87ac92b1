package rebalance

import (
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
)

// Where a replacement may go. The scheduler places it, but a plan that
// sends a pod where the scheduler never would (a GPU pod to a CPU node, a
// pool's pod to another pool, a replica onto a node its anti-affinity
// forbids) evicts it for nothing and predicts a spread that never comes. So a
// pod moves only to a node that passes the scheduler's filters as far as one
// snapshot tells:
//   - room for its CPU, memory and every other resource it requests
//     (zz.io/gpu-mem, nvidia.com/gpu, ephemeral storage), and a pod slot;
//   - its nodeSelector and required node affinity, the taints it tolerates
//     (NoSchedule, NoExecute), the node affinity of its volumes;
//   - its host ports free there;
//   - required pod affinity and anti-affinity and DoNotSchedule topology
//     spread: on kubernetes.io/hostname judged on the target's pods; on any
//     other key (a zone) only within the source node's domain, where no
//     domain's count changes;
//   - no pod on the target (or in its domain) whose own required
//     anti-affinity matches it (Repels), as the scheduler checks both ways.

// Constraints are the scheduler's filters one pod must pass on a node
// (NewConstraints); nil passes every node with room and no taint.
type Constraints struct {
	nodeAffinity nodeaffinity.RequiredNodeAffinity
	tolerations  []corev1.Toleration
	volumes      []*corev1.PersistentVolume
	hostPorts    []string
	antiAffinity []podTerm // hostname: no matching pod on the target
	affinity     []podTerm // hostname: a matching pod on the target
	spread       []podTerm // hostname, DoNotSchedule: fewer matching pods on the target than on the source
	// sameDomain are topology keys whose value the target must share with
	// the source node.
	sameDomain []string
}

// podTerm selects pods: by labels, in namespaces (nil: every namespace).
type podTerm struct {
	selector   labels.Selector
	namespaces map[string]bool
}

func (t podTerm) matches(p *Pod) bool {
	return (t.namespaces == nil || t.namespaces[p.Namespace]) && t.selector.Matches(labels.Set(p.Labels))
}

// NewConstraints reads pod's scheduling constraints; pvs are the
// persistent volumes bound to its claims (nil where not known). An error
// says the pod's constraints cannot be judged, so it must not move.
func NewConstraints(pod *corev1.Pod, pvs []*corev1.PersistentVolume) (*Constraints, error) {
	c := &Constraints{nodeAffinity: nodeaffinity.GetRequiredNodeAffinity(pod), tolerations: pod.Spec.Tolerations, volumes: pvs,
		hostPorts: HostPorts(pod)}
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAntiAffinity != nil {
			for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				if err := c.addTerm(pod, term, &c.antiAffinity); err != nil {
					return nil, err
				}
			}
		}
		if a.PodAffinity != nil {
			for _, term := range a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				if err := c.addTerm(pod, term, &c.affinity); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, s := range pod.Spec.TopologySpreadConstraints {
		if s.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		if s.TopologyKey != corev1.LabelHostname {
			c.sameDomain = append(c.sameDomain, s.TopologyKey)
			continue
		}
		sel, err := termSelector(pod, s.LabelSelector, s.MatchLabelKeys, nil)
		if err != nil {
			return nil, fmt.Errorf("topology spread of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		c.spread = append(c.spread, podTerm{selector: sel, namespaces: map[string]bool{pod.Namespace: true}})
	}
	return c, nil
}

func (c *Constraints) addTerm(pod *corev1.Pod, term corev1.PodAffinityTerm, to *[]podTerm) error {
	if term.TopologyKey != corev1.LabelHostname {
		c.sameDomain = append(c.sameDomain, term.TopologyKey)
		return nil
	}
	sel, err := termSelector(pod, term.LabelSelector, term.MatchLabelKeys, term.MismatchLabelKeys)
	if err != nil {
		return fmt.Errorf("pod affinity of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	namespaces, known := termNamespaces(pod, term)
	if !known {
		// Namespaces chosen by their labels, which a snapshot of pods does
		// not hold: the pod stays on its node.
		c.sameDomain = append(c.sameDomain, term.TopologyKey)
		return nil
	}
	*to = append(*to, podTerm{selector: sel, namespaces: namespaces})
	return nil
}

// termNamespaces are the namespaces a pod affinity term looks in: its
// list, or the pod's own; nil for every namespace (an empty selector).
// known is false when a namespace selector chooses them by their labels.
func termNamespaces(pod *corev1.Pod, term corev1.PodAffinityTerm) (namespaces map[string]bool, known bool) {
	switch ns := term.NamespaceSelector; {
	case ns == nil:
		namespaces = map[string]bool{}
		for _, n := range term.Namespaces {
			namespaces[n] = true
		}
		if len(term.Namespaces) == 0 {
			namespaces[pod.Namespace] = true
		}
		return namespaces, true
	case len(ns.MatchLabels) == 0 && len(ns.MatchExpressions) == 0:
		return nil, true // {} is every namespace
	}
	return nil, false
}

// Repel is one required anti-affinity term of a pod: the scheduler refuses
// a pod the term matches on a node in the same domain of Key (on
// kubernetes.io/hostname, the same node). The pod that carries it keeps
// other pods off, whoever they are: it counts when another pod moves.
type Repel struct {
	Key  string
	term podTerm
}

// Repels are pod's required anti-affinity terms. A term whose namespaces
// are chosen by their labels is taken to cover every namespace.
func Repels(pod *corev1.Pod) []Repel {
	a := pod.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return nil
	}
	var out []Repel
	for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		sel, err := termSelector(pod, term.LabelSelector, term.MatchLabelKeys, term.MismatchLabelKeys)
		if err != nil {
			sel = labels.Everything() // unreadable: it may match anything
		}
		// Namespaces chosen by their labels are taken as every namespace.
		namespaces, _ := termNamespaces(pod, term)
		out = append(out, Repel{Key: term.TopologyKey, term: podTerm{selector: sel, namespaces: namespaces}})
	}
	return out
}

// repelled reports whether a pod already in to's domain keeps p off to:
// on to itself for kubernetes.io/hostname terms, in to's domain for the
// others (domains holds, per key and value, the terms of the pods there),
// unless p stays within the domain it is in.
func repelled(p *Pod, from, to *Node, domains map[string]map[string][]podTerm) bool {
	for i := range to.Pods {
		for _, r := range to.Pods[i].Repels {
			if r.Key == corev1.LabelHostname && r.term.matches(p) {
				return true
			}
		}
	}
	for key, values := range domains {
		v, ok := to.Labels[key]
		if !ok || v == from.Labels[key] {
			continue
		}
		for _, t := range values[v] {
			if t.matches(p) {
				return true
			}
		}
	}
	return false
}

// repelDomains gathers the anti-affinity terms on keys other than
// kubernetes.io/hostname by key and domain. A pod with such a term stays in
// its domain (its own constraints say so), so they do not change as pods
// move.
func repelDomains(nodes []Node) map[string]map[string][]podTerm {
	var out map[string]map[string][]podTerm
	for i := range nodes {
		for _, p := range nodes[i].Pods {
			for _, r := range p.Repels {
				v, ok := nodes[i].Labels[r.Key]
				if r.Key == corev1.LabelHostname || !ok {
					continue
				}
				if out == nil {
					out = map[string]map[string][]podTerm{}
				}
				if out[r.Key] == nil {
					out[r.Key] = map[string][]podTerm{}
				}
				out[r.Key][v] = append(out[r.Key][v], r.term)
			}
		}
	}
	return out
}

// termSelector is a term's label selector with its matchLabelKeys and
// mismatchLabelKeys taken from the pod's labels, as the scheduler adds them.
func termSelector(pod *corev1.Pod, ls *metav1.LabelSelector, match, mismatch []string) (labels.Selector, error) {
	if ls == nil {
		return labels.Nothing(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, err
	}
	for _, keys := range []struct {
		keys []string
		op   selection.Operator
	}{{match, selection.In}, {mismatch, selection.NotIn}} {
		for _, k := range keys.keys {
			v, ok := pod.Labels[k]
			if !ok {
				continue
			}
			r, err := labels.NewRequirement(k, keys.op, []string{v})
			if err != nil {
				return nil, err
			}
			sel = sel.Add(*r)
		}
	}
	return sel, nil
}

// HostPorts are the host ports pod's containers hold, as
// "protocol/hostIP/port".
func HostPorts(pod *corev1.Pod) []string {
	var out []string
	for _, ctr := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, p := range ctr.Ports {
			if p.HostPort > 0 {
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				out = append(out, string(proto)+"/"+p.HostIP+"/"+strconv.Itoa(int(p.HostPort)))
			}
		}
	}
	return out
}

// allows reports whether the scheduler could place p on to, moving off
// from; room is judged by the caller.
func (c *Constraints) allows(p *Pod, from, to *Node) bool {
	var tolerations []corev1.Toleration
	if c != nil {
		tolerations = c.tolerations
	}
	if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), to.Taints, tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}, true); untolerated {
		return false
	}
	if c == nil {
		return true
	}
	if ok, err := c.nodeAffinity.Match(to.object()); err != nil || !ok {
		return false
	}
	for _, pv := range c.volumes {
		if volume.CheckNodeAffinity(pv, to.Labels) != nil {
			return false
		}
	}
	for _, k := range c.sameDomain {
		if v, ok := from.Labels[k]; !ok || to.Labels[k] != v {
			return false
		}
	}
	count := func(n *Node, t podTerm) int {
		k := 0
		for i := range n.Pods {
			q := &n.Pods[i]
			if (q.Namespace != p.Namespace || q.Name != p.Name) && t.matches(q) {
				k++
			}
		}
		return k
	}
	for _, t := range c.antiAffinity {
		if count(to, t) > 0 {
			return false
		}
	}
	for _, t := range c.affinity {
		// The scheduler lets the first pod of a group that matches its own
		// term go anywhere; a snapshot cannot tell that case from a group
		// elsewhere, so the target must hold one.
		if count(to, t) == 0 {
			return false
		}
	}
	for _, t := range c.spread {
		// With p counted on the source, fewer there than on the source: the
		// move never raises the skew above what it was. A pod its own
		// selector does not match changes no count.
		if t.matches(p) && count(to, t) > count(from, t) {
			return false
		}
	}
	for _, hp := range c.hostPorts {
		for i := range to.Pods {
			if slices.Contains(to.Pods[i].HostPorts, hp) {
				return false
			}
		}
	}
	return true
}

// object is the node as the node-affinity matchers read it (name and labels).
func (n *Node) object() *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels}}
}
