// Package gpuinspect shows what the extender sees of the cluster's GPUs: it
// rebuilds the same ledger (internal/gpushare) from nodes and pods, and
// prints it per node and card, and per pod and app against the memory the
// device plugins published each pod uses (contract.AnnotationGPUMemUsed).
package gpuinspect

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// Snapshot is what kubectl zz gpu shows of one cluster.
type Snapshot struct {
	// Nodes are the GPU nodes' cards and the pods the ledger charges them.
	Nodes []gpushare.NodeView
	// Pods are the GPU pods on those nodes: what the ledger charges each on
	// each card, against what its device plugin published it uses.
	Pods []PodGPU
	// Shapes are the request shapes of the live GPU pods, each with how
	// many more pods of it the nodes could take and the free memory it
	// cannot use (gpushare.ShapeRoom; the extender's zz_gpu_shape_*
	// metrics, over its last 1,000 pods instead).
	Shapes []gpushare.ShapeRoom
	// Warnings name pods whose annotations cannot be read: reported, not
	// dropped silently.
	Warnings []string
	// OnMissingCards name the pods that hold memory on a card their node's
	// inventory no longer lists (a card lost to a reset or a fault): the
	// ledger keeps it held until the card is back or the pod ends.
	OnMissingCards []string
	// Duplicates are the card UUIDs several nodes' inventories list, with
	// the nodes (gpushare.Ledger.Duplicates): a forged or cloned inventory;
	// the card takes no new pod on any of them.
	Duplicates []string

	ledger *gpushare.Ledger
	only   []string
	nodes  map[string]*corev1.Node
}

// Fits judges one pod of req by policy on the GPU nodes shown, as the
// extender would now (gpushare.Ledger.Fits).
func (s *Snapshot) Fits(req gpushare.Request, policy gpushare.Policy) []gpushare.NodeFit {
	return s.ledger.Fits(req, policy, s.only)
}

// Exclude marks the nodes of fits that pod cannot go to whatever their GPU
// room, as kube-scheduler's NodeAffinity and TaintToleration filters judge
// before the extender sees a node: not fitting, nothing counted there, and
// why. It returns how many. Without it, a GPU pod sent to a pool of CPU
// nodes was told it fits on every GPU node.
func (s *Snapshot) Exclude(fits []gpushare.NodeFit, pod *corev1.Pod) int {
	n := 0
	for i := range fits {
		f := &fits[i]
		node, ok := s.nodes[f.Node]
		if !ok {
			continue
		}
		if why := NodeExcludes(pod, node); why != "" {
			*f = gpushare.NodeFit{Node: f.Node, Reason: why, Excluded: true}
			n++
		}
	}
	return n
}

// ExcludeCordoned marks the cordoned nodes of fits as excluded, as for a
// pod of the size asked (--fit 24Gi) that does not tolerate the cordon,
// which no app's does: the gpu table shows their free memory as 0 (a
// review: --fit SIZE offered a cordoned node's memory as room). It returns
// how many it marked.
func (s *Snapshot) ExcludeCordoned(fits []gpushare.NodeFit) int {
	n := 0
	for i := range fits {
		if node, ok := s.nodes[fits[i].Node]; ok && node.Spec.Unschedulable {
			fits[i] = gpushare.NodeFit{Node: fits[i].Node, Reason: cordoned(node), Excluded: true}
			n++
		}
	}
	return n
}

// cordoned is why a cordoned node takes no pod.
func cordoned(node *corev1.Node) string {
	return "the node is cordoned (kubectl uncordon " + node.Name + " gives it back)"
}

// Refuse marks every node of fits as not fitting for why, as the
// extender's filter refuses a pod whose request it cannot serve on any node
// whatever its room (gpushare.ErrNoCardResource): nothing counted there.
func Refuse(fits []gpushare.NodeFit, why error) {
	for i := range fits {
		fits[i] = gpushare.NodeFit{Node: fits[i].Node, Reason: why.Error()}
	}
}

// NodeExcludes says why the scheduler keeps pod off node whatever its room
// ("" when nothing does): a nodeSelector entry the node lacks (named, with
// the node's value), the pod's required node affinity, a cordon (kubectl
// cordon) the pod does not tolerate, or a NoSchedule or NoExecute taint the
// pod does not tolerate.
func NodeExcludes(pod *corev1.Pod, node *corev1.Node) string {
	for _, k := range slices.Sorted(maps.Keys(pod.Spec.NodeSelector)) {
		if have, ok := node.Labels[k]; !ok || have != pod.Spec.NodeSelector[k] {
			why := fmt.Sprintf("the pod's nodeSelector %s=%s excludes it", k, pod.Spec.NodeSelector[k])
			if ok {
				why += fmt.Sprintf(" (the node has %s=%s)", k, have)
			}
			return why
		}
	}
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !ok {
		return "the pod's required node affinity excludes it"
	}
	if node.Spec.Unschedulable && !corev1helpers.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations,
		&corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}, true) {
		// kube-scheduler's NodeUnschedulable filter.
		return cordoned(node)
	}
	if t, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}, true); untolerated {
		return "the pod does not tolerate its taint " + t.ToString()
	}
	return ""
}

// Preemption is where a preemption the extender recorded on its pod
// stands, as the extender's ledger restores it.
type Preemption struct {
	Node string
	// Waiting is how many pods on Node it still waits for; 0 when they are
	// gone and the extender keeps cards there for the pod (Held).
	Waiting int
	Held    bool
}

// Preemption returns where the preemption for the pod stands; false when
// the extender keeps nothing for it (none recorded, or lapsed).
func (s *Snapshot) Preemption(uid types.UID) (Preemption, bool) {
	if rec, ok := s.ledger.NominationOf(uid); ok {
		return Preemption{Node: rec.Node, Waiting: len(s.ledger.Awaited(uid))}, true
	}
	if node, ok := s.ledger.HeldOn(uid); ok {
		return Preemption{Node: node, Held: true}, true
	}
	return Preemption{}, false
}

// Preempt fills in, on the nodes where req does not fit, how many pods of
// lower priority than priority the extender's preemption would evict there
// (gpushare.Ledger.PlanPreemption, node by node; PodDisruptionBudgets are
// not read here), and says so in the reason. It returns on how many nodes.
func (s *Snapshot) Preempt(fits []gpushare.NodeFit, req gpushare.Request, priority int32) int {
	n := 0
	for i := range fits {
		f := &fits[i]
		if f.Fits || f.Excluded {
			continue
		}
		if plan, ok := s.ledger.PlanPreemption([]string{f.Node}, req, priority, nil); ok {
			f.Preempt = len(plan.Victims)
			f.Reason += fmt.Sprintf("; preemption would evict %d pods of lower priority than %d", f.Preempt, priority)
			n++
		}
	}
	return n
}

// OverAllocated lists the cards of nodes that hold more memory than they
// have ("node gpu-1 card 0: 30Gi of 15Gi (ml/a, ml/b)"): only a card that shrank
// or changed under running pods, or a bug, brings one.
func OverAllocated(nodes []gpushare.NodeView) []string {
	var out []string
	for _, v := range nodes {
		for _, c := range v.Cards {
			if c.UsedMiB > c.MemoryMiB {
				names := make([]string, len(c.Pods))
				for i, p := range c.Pods {
					names[i] = p.Namespace + "/" + p.Name
				}
				out = append(out, fmt.Sprintf("node %s card %d: %s of %s (%s)", v.Name, c.Index, mib(c.UsedMiB), mib(c.MemoryMiB), strings.Join(names, ", ")))
			}
		}
	}
	return out
}

// FitTable returns kubectl zz gpu --fit: per GPU node whether one pod of the
// request fits now, the cards its policy would choose, how many such pods
// the node could take (MORE, the node alone) and, where it does not fit,
// the extender's reason.
func FitTable(fits []gpushare.NodeFit) (header []string, rows [][]string) {
	header = []string{"NODE", "FITS", "CARDS", "MORE", "REASON"}
	for _, f := range fits {
		cards := make([]string, len(f.Cards))
		for i, c := range f.Cards {
			cards[i] = strconv.Itoa(c)
		}
		rows = append(rows, []string{f.Node, strconv.FormatBool(f.Fits), strings.Join(cards, ","), strconv.Itoa(f.More), f.Reason})
	}
	return header, rows
}

// Collect lists nodes and pods, feeds them to the extender's ledger and
// returns what it charges per node, card and pod, with the pods' published
// use; only the nodes named in only, when given.
func Collect(ctx context.Context, client kubernetes.Interface, only []string) (*Snapshot, error) {
	nodes, err := listNodes(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	pods, err := listPods(ctx, client, nodes)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	ledger := gpushare.NewLedger()
	s := &Snapshot{ledger: ledger, only: only, nodes: map[string]*corev1.Node{}}
	for i := range nodes.Items {
		ledger.SetNode(&nodes.Items[i])
		s.nodes[nodes.Items[i].Name] = &nodes.Items[i]
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if err := ledger.SetPod(p); err != nil {
			s.Warnings = append(s.Warnings, err.Error())
			if errors.Is(err, gpushare.ErrCardMissing) {
				s.OnMissingCards = append(s.OnMissingCards, err.Error())
			}
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			ledger.Stream().ObservePod(p)
		}
	}
	// A preemption under way, recorded on its pod: the extender keeps the
	// memory its victims free for the preemptor, so the tables do too (and
	// once they are gone, show the cards it will get).
	for i := range pods.Items {
		p := &pods.Items[i]
		v, ok := p.Annotations[contract.AnnotationGPUNomination]
		if !ok || p.Spec.NodeName != "" {
			continue
		}
		if rec, err := gpushare.ParseNominationRecord(v); err != nil {
			s.Warnings = append(s.Warnings, fmt.Sprintf("pod %s/%s: %v", p.Namespace, p.Name, err))
		} else {
			ledger.RestoreNomination(p, rec, gpushare.Binpack, gpushare.DefaultAssumeTTL)
		}
	}
	s.Shapes = ledger.ShapeRooms()
	s.Duplicates = ledger.Duplicates()
	for _, v := range ledger.View() {
		if len(only) == 0 || slices.Contains(only, v.Name) {
			s.Nodes = append(s.Nodes, v)
		}
	}
	for _, name := range only {
		if !slices.ContainsFunc(nodes.Items, func(n corev1.Node) bool { return n.Name == name }) {
			return nil, fmt.Errorf("nodes %q not found; list GPU nodes with: kubectl zz gpu", name)
		}
		if !slices.ContainsFunc(s.Nodes, func(v gpushare.NodeView) bool { return v.Name == name }) {
			return nil, fmt.Errorf("node %q has no GPUs zz knows of (no "+contract.AnnotationNodeGPUInventory+" annotation); list GPU nodes with: kubectl zz gpu", name)
		}
	}
	var warnings []string
	s.Pods, warnings = podRows(s.Nodes, pods.Items)
	s.Warnings = append(s.Warnings, warnings...)
	return s, nil
}

// pageSize is how many objects one list page holds, as kubectl get pages.
const pageSize = 500

// listNodes lists every node in pages, kept with what the ledger and the
// fit read (a node's image list and conditions are most of its bytes).
func listNodes(ctx context.Context, client kubernetes.Interface) (*corev1.NodeList, error) {
	out := &corev1.NodeList{}
	err := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return client.CoreV1().Nodes().List(ctx, opts)
	}).EachListItemWithAlloc(ctx, metav1.ListOptions{Limit: pageSize}, func(obj runtime.Object) error {
		n, ok := obj.(*corev1.Node)
		if !ok {
			return fmt.Errorf("listed a %T, not a node", obj)
		}
		out.Items = append(out.Items, corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, Labels: n.Labels, Annotations: n.Annotations},
			Spec:       corev1.NodeSpec{Taints: n.Spec.Taints, Unschedulable: n.Spec.Unschedulable},
			Status:     corev1.NodeStatus{Capacity: n.Status.Capacity, Allocatable: n.Status.Allocatable},
		})
		return nil
	})
	return out, err
}

// listPods lists every pod in pages and keeps those the GPU tables read: on
// a GPU node (one with an inventory), pending (a preemption's record, the
// request stream), asking for cards, or carrying card indexes (forged or
// left on another node: said as a warning). A cluster's other pods, most
// of them, are read once and dropped (a scale audit: 15 KB of client memory
// each, kept until then).
func listPods(ctx context.Context, client kubernetes.Interface, nodes *corev1.NodeList) (*corev1.PodList, error) {
	gpuNodes := map[string]bool{}
	for _, n := range nodes.Items {
		if _, ok := n.Annotations[contract.AnnotationNodeGPUInventory]; ok {
			gpuNodes[n.Name] = true
		}
	}
	out := &corev1.PodList{}
	err := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
	}).EachListItemWithAlloc(ctx, metav1.ListOptions{Limit: pageSize}, func(obj runtime.Object) error {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return fmt.Errorf("listed a %T, not a pod", obj)
		}
		_, indexed := p.Annotations[contract.AnnotationGPUIndexes]
		if p.Spec.NodeName == "" || gpuNodes[p.Spec.NodeName] || indexed || gpushare.AsksGPU(p) {
			p.ManagedFields = nil
			out.Items = append(out.Items, *p)
		}
		return nil
	})
	return out, err
}

// Table returns the table kubectl zz gpu prints: one row per card (per node
// when its inventory is unreadable). FREE is the ledger's free memory
// (gpushare.Card.FreeMiB: 0 on a card whose sharing slots are all taken;
// 0 with why on a card that is down or cordoned).
// Wide adds UUID, health, the card's NUMA node ("<unknown>" when its device
// plugin could not tell), the memory the card's pods use (as their device
// plugin published it; "<unknown>" when none did) and each pod's
// requested/used memory. The command prints it (with a CLUSTER column
// across clusters).
func Table(s *Snapshot, wide bool) (header []string, rows [][]string) {
	header = []string{"NODE", "CARD", "MODEL", "TOTAL", "ALLOCATED", "FREE", "PODS"}
	if wide {
		header = append(header, "UUID", "HEALTHY", "NUMA", "USED", "POD MEMORY (REQUESTED/USED)")
	}
	used := s.usedByCard()
	for _, v := range s.Nodes {
		if v.Error != "" {
			row := []string{v.Name, "-", "<error: " + v.Error + ">", "", "", "", ""}
			if wide {
				row = append(row, "", "", "", "", "")
			}
			rows = append(rows, row)
			continue
		}
		cordoned := s.nodes[v.Name] != nil && s.nodes[v.Name].Spec.Unschedulable
		for _, c := range v.Cards {
			free := freeCell(c.Card)
			if cordoned && c.Healthy && c.UsedMiB <= c.MemoryMiB {
				// kubectl cordon: the scheduler places no new pod on the
				// node, whatever its cards hold (a GPU audit read the free
				// memory of a cordoned node as room).
				free = "0 (node cordoned)"
			}
			row := []string{v.Name, strconv.Itoa(c.Index), c.Model, mib(c.MemoryMiB), mib(c.UsedMiB), free, strconv.Itoa(len(c.Pods))}
			if wide {
				byPod := used[nodeCard{v.Name, c.UUID}]
				pods := make([]string, len(c.Pods))
				for i, p := range c.Pods {
					u, ok := byPod[p.Namespace+"/"+p.Name]
					pods[i] = fmt.Sprintf("%s/%s:%s/%s", p.Namespace, p.Name, mib(p.MemMiB), usedCell(u, ok))
				}
				var total int64
				for _, u := range byPod { // pods on the card unassigned too
					total += u
				}
				numa := "<unknown>"
				if c.NUMANode != nil {
					numa = strconv.FormatInt(*c.NUMANode, 10)
				}
				row = append(row, c.UUID, health(c.Card), numa, usedCell(total, len(byPod) > 0), strings.Join(pods, ","))
			}
			rows = append(rows, row)
		}
	}
	return header, rows
}

// ShapeTable returns kubectl zz gpu --shapes: per request shape of the live
// GPU pods, its memory per card, cards, share of those pods, how many more
// pods of it the nodes could take (each node alone) and the free memory it
// cannot use. MORE 0 with much UNUSABLE FREE is fragmentation: the memory is
// there, in pieces no such pod fits.
func ShapeTable(shapes []gpushare.ShapeRoom) (header []string, rows [][]string) {
	header = []string{"MEMORY", "CARDS", "SHARE", "MORE", "UNUSABLE FREE"}
	for _, r := range shapes {
		mem, cards := mib(r.MemMiB), strconv.Itoa(r.Cards)
		if r.Whole {
			// Whole cards of any size up to it (kubectl zz gpu --fit --whole).
			mem, cards = "≤"+mem, cards+" whole"
		}
		rows = append(rows, []string{mem, cards, fmt.Sprintf("%.0f%%", 100*r.Share), strconv.Itoa(r.Pods), mib(r.UnusableMiB)})
	}
	return header, rows
}

// freeCell is FREE: what a new pod may have of the card, so none on a card
// that is down or cordoned, with which (kubectl get nodes says
// SchedulingDisabled for a cordoned node).
func freeCell(c gpushare.Card) string {
	switch {
	case c.UsedMiB > c.MemoryMiB:
		// The one invariant zz promises is broken (a card that shrank
		// under its pods): said, not clamped to 0.
		return "0 (over by " + mib(c.UsedMiB-c.MemoryMiB) + ")"
	case c.Healthy:
		return mib(c.FreeMiB())
	case strings.HasPrefix(c.Reason, gpushare.CordonReason):
		return "0 (cordoned)"
	case strings.HasPrefix(c.Reason, gpushare.DuplicateReason):
		return "0 (UUID on another node)"
	}
	return "0 (unhealthy)"
}

// mib prints MiB as kubectl prints memory quantities.
func mib(v int64) string {
	if v != 0 && v%1024 == 0 {
		return fmt.Sprintf("%dGi", v/1024)
	}
	return fmt.Sprintf("%dMi", v)
}

// health is the HEALTHY column: true, or false with the device plugin's reason.
func health(c gpushare.Card) string {
	if c.Healthy || c.Reason == "" {
		return strconv.FormatBool(c.Healthy)
	}
	return "false (" + c.Reason + ")"
}
