package extender

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// Decider answers filter and prioritize calls from the books alone.
type Decider struct {
	GPU           *gpushare.Ledger
	Usage         *balance.Book
	DefaultPolicy gpushare.Policy
	Weights       balance.Weights
	// Now stamps the balance book's assumptions.
	Now func() time.Time
	// Preempt, when set, is told of a GPU pod that fits none of the nodes
	// (Preemptor.Consider); it must not block.
	Preempt func(pod *corev1.Pod, names []string, req gpushare.Request, policy gpushare.Policy)
	// Refresh, when set, is called for a pod the extender preempts for
	// before it is filtered (Preemptor.Refresh).
	Refresh func(pod *corev1.Pod)
	// Filtered, when set, is told of each GPU pod filtered: the nodes it
	// was offered, whether it fits any, and the ledger's FreedSeq before
	// the decision (Requeuer.Filtered); it must not block.
	Filtered func(pod *corev1.Pod, names []string, req gpushare.Request, fit bool, seq uint64)
	// AddVictims lets the preempt verb add GPU pods of lower priority to
	// kube-scheduler's victims (the extender's own preemption is on), and
	// Guarded says which pods a PodDisruptionBudget keeps (never added).
	AddVictims bool
	Guarded    func(types.NamespacedName) bool
	// Candidates, when set, counts the preempt verb's answers per node:
	// kept as kube-scheduler planned, extended, or dropped.
	Candidates func(result string)
}

// errBadArgs marks a call the extender cannot answer as asked.
var errBadArgs = errors.New("bad extender call")

// nodeNames returns the candidates, from NodeNames (nodeCacheCapable) or Nodes.
func nodeNames(args *extenderv1.ExtenderArgs) ([]string, error) {
	if args.Pod == nil {
		return nil, fmt.Errorf("%w: no pod in the arguments", errBadArgs)
	}
	if args.NodeNames != nil {
		return *args.NodeNames, nil
	}
	if args.Nodes == nil {
		return nil, fmt.Errorf("%w: neither NodeNames nor Nodes given", errBadArgs)
	}
	names := make([]string, len(args.Nodes.Items))
	for i := range args.Nodes.Items {
		names[i] = args.Nodes.Items[i].Name
	}
	return names, nil
}

// request reads a pod's GPU request and policy, and checks it can fit anywhere.
func (d *Decider) request(pod *corev1.Pod) (gpushare.Request, gpushare.Policy, error) {
	req, policy, err := gpushare.PodPlacement(pod, d.DefaultPolicy)
	if err != nil {
		return req, "", err
	}
	if !gpushare.AsksGPU(pod) {
		return req, "", gpushare.ErrNoCardResource
	}
	if most := d.GPU.MaxCards(); req.Cards > most {
		return req, "", &tooManyCards{asked: req.Cards, most: most}
	}
	return req, policy, nil
}

// cardsUnfiltered is the bind's refusal of a pod asking for
// contract.ResourceGPU without contract.ResourceGPUMem (err is
// gpushare.ErrCardsWithoutMemory). The filter entry manages the GPU memory
// only, so kube-scheduler never asked gpu/filter about it and placed it by
// zz.io/gpu slots alone; the bind entry manages zz.io/gpu, so it comes here.
// Binding it would start it with no card chosen, so it is refused, and
// kube-scheduler tries again after each back-off until the pod is replaced:
// the error says so, and what to add. Such a pod comes from a namespace the
// webhook does not serve (it would give the pod whole cards) where the
// quota policy (manifests/policies) is not installed (it would refuse it).
func cardsUnfiltered(pod *corev1.Pod, err error) error {
	return fmt.Errorf("pod %s/%s is not bound and stays Pending: it asks for %s without %s, so the scheduler placed it by %s slots alone, without gpu/filter, "+
		"and no card is chosen for it; recreate it with %s: %w (the zz webhook gives such a pod whole cards in the namespaces it serves, "+
		"and the policies of manifests/policies refuse it at admission)",
		pod.Namespace, pod.Name, contract.ResourceGPU, contract.ResourceGPUMem, contract.ResourceGPU, contract.ResourceGPUMem, err)
}

// tooManyCards is a request no node has cards enough for: a verdict on
// every node (the pod waits as Unschedulable, and a larger node added later
// takes it), not an error of the call, which kube-scheduler reports as a
// SchedulerError and retries as a failure of the extender.
type tooManyCards struct{ asked, most int }

func (e *tooManyCards) Error() string {
	return fmt.Sprintf("pod asks for %d cards; the largest GPU node has %d", e.asked, e.most)
}

// refuseAll fails every node of names with why, unresolvable.
func refuseAll(names []string, why string) *extenderv1.ExtenderFilterResult {
	failed := make(map[string]string, len(names))
	for _, name := range names {
		failed[name] = why
	}
	return &extenderv1.ExtenderFilterResult{NodeNames: &[]string{}, FailedAndUnresolvableNodes: failed}
}

// Filter keeps the nodes with enough cards that each have enough free memory.
// Rejected nodes are unresolvable: preemption by the scheduler's plugins
// cannot see GPU memory, so it would evict pods for nothing; the extender
// preempts for GPU memory itself (Preempt). A pod that holds cards on a node
// it is not bound to yet (what a preemption freed for it) fits there alone.
// A pod whose GPU request cannot be read fits no node (see filter).
func (d *Decider) Filter(args *extenderv1.ExtenderArgs) *extenderv1.ExtenderFilterResult {
	res, _ := d.filter(args)
	return res
}

// invalidRequest is a pod whose GPU request cannot be read (an unknown
// zz.io/gpu-policy, a malformed annotation, zz.io/gpu without
// zz.io/gpu-mem...): the pod's fault, not the extender's.
type invalidRequest struct{ err error }

func (e *invalidRequest) Error() string { return e.err.Error() }
func (e *invalidRequest) Unwrap() error { return e.err }

// filter is Filter, and says when the pod's request was invalid. Such a pod
// fits no node, each refused with the reason, unresolvable: the pod waits
// Pending with that message in its FailedScheduling event until it is
// fixed. An Error instead made kube-scheduler report a SchedulerError and
// retry the pod for ever, counted as the extender's failure: one tenant's
// typo paged the platform (ZZExtenderErrors, an SRE audit).
func (d *Decider) filter(args *extenderv1.ExtenderArgs) (*extenderv1.ExtenderFilterResult, *invalidRequest) {
	names, err := nodeNames(args)
	if err != nil {
		return &extenderv1.ExtenderFilterResult{Error: err.Error()}, nil
	}
	req, policy, err := d.request(args.Pod)
	if errors.Is(err, gpushare.ErrNoGPU) {
		// Not a GPU pod (a profile without managedResources sends every
		// pod): every node passes.
		return &extenderv1.ExtenderFilterResult{NodeNames: args.NodeNames, Nodes: args.Nodes, FailedAndUnresolvableNodes: map[string]string{}}, nil
	}
	if tooMany, ok := errors.AsType[*tooManyCards](err); ok {
		return refuseAll(names, tooMany.Error()), nil
	}
	if err != nil {
		return refuseAll(names, err.Error()), &invalidRequest{err: err}
	}
	if d.Refresh != nil && d.GPU.Nominated(args.Pod.UID) {
		d.Refresh(args.Pod)
	}
	var seq uint64
	if d.Filtered != nil {
		seq = d.GPU.FreedSeq()
	}
	var fit []string
	var failed map[string]string
	if held, ok := d.GPU.HeldOn(args.Pod.UID); ok && slices.Contains(names, held) {
		fit, failed = []string{held}, make(map[string]string, len(names)-1)
		for _, name := range names {
			if name != held {
				failed[name] = fmt.Sprintf("the pod holds its cards on node %s", held)
			}
		}
	} else {
		fit, failed = d.GPU.Filter(names, req)
		if len(fit) == 0 && d.Preempt != nil {
			d.Preempt(args.Pod, names, req, policy)
		}
	}
	if d.Filtered != nil {
		d.Filtered(args.Pod, names, req, len(fit) > 0, seq)
	}
	res := &extenderv1.ExtenderFilterResult{FailedAndUnresolvableNodes: failed}
	if args.NodeNames != nil {
		res.NodeNames = &fit
	} else {
		res.Nodes = &corev1.NodeList{}
		keep := make(map[string]bool, len(fit))
		for _, n := range fit {
			keep[n] = true
		}
		for i := range args.Nodes.Items {
			if keep[args.Nodes.Items[i].Name] {
				res.Nodes.Items = append(res.Nodes.Items, args.Nodes.Items[i])
			}
		}
	}
	return res, nil
}

// Results of the preempt verb, per candidate node.
const (
	candidateKept     = "kept"
	candidateExtended = "extended"
	candidateDropped  = "dropped"
)

// Preemption is the preempt verb. kube-scheduler asks it about the nodes
// where its own preemption found victims for what its plugins see (CPU,
// memory, pod count): a GPU pod's Filter refusals are unresolvable, so
// these are nodes its plugins refused before the extender was asked, and
// evicting there is blind to GPU memory. Each candidate is kept when the
// pod fits its cards once kube-scheduler's victims (and the terminating
// pods) are gone; extended with GPU pods of lower priority when that makes
// room (AddVictims); dropped otherwise, so that kube-scheduler evicts
// nobody on a node where the pod still would not run. A pod the extender
// already keeps memory for (its own preemption, cards held) keeps that node
// alone. With one candidate left (AddVictims), what its victims free is kept
// for the pod from now on. Other pods' candidates come back unchanged.
func (d *Decider) Preemption(args *extenderv1.ExtenderPreemptionArgs) (*extenderv1.ExtenderPreemptionResult, error) {
	if args.Pod == nil {
		return nil, fmt.Errorf("%w: no pod in the arguments", errBadArgs)
	}
	cands := metaVictims(args)
	req, policy, err := d.request(args.Pod)
	if errors.Is(err, gpushare.ErrNoGPU) {
		return &extenderv1.ExtenderPreemptionResult{NodeNameToMetaVictims: cands}, nil
	}
	if _, ok := errors.AsType[*tooManyCards](err); ok {
		// No eviction gives it cards enough.
		return &extenderv1.ExtenderPreemptionResult{NodeNameToMetaVictims: map[string]*extenderv1.MetaVictims{}}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]*extenderv1.MetaVictims, len(cands))
	count := func(result string) {
		if d.Candidates != nil {
			d.Candidates(result)
		}
	}
	if node, ok := d.GPU.ReservedOn(args.Pod.UID); ok {
		for name, v := range cands {
			if name == node {
				out[name] = v
				count(candidateKept)
			} else {
				count(candidateDropped)
			}
		}
		return &extenderv1.ExtenderPreemptionResult{NodeNameToMetaVictims: out}, nil
	}
	priority := corev1helpers.PodPriority(args.Pod)
	uids := []types.UID{}
	var awaited []types.UID
	for name, v := range cands {
		uids = uids[:0]
		for _, p := range v.Pods {
			uids = append(uids, types.UID(p.UID))
		}
		plan, ok := d.GPU.ExtendVictims(name, req, priority, uids, d.Guarded, d.AddVictims)
		switch {
		case !ok:
			count(candidateDropped)
			continue
		case len(plan.Victims) == 0:
			out[name] = v
			count(candidateKept)
		default:
			ext := &extenderv1.MetaVictims{Pods: slices.Clone(v.Pods), NumPDBViolations: v.NumPDBViolations}
			for _, x := range plan.Victims {
				ext.Pods = append(ext.Pods, &extenderv1.MetaPod{UID: string(x.UID)})
			}
			out[name] = ext
			count(candidateExtended)
		}
		awaited = plan.Awaited
	}
	if len(out) == 1 && d.AddVictims {
		// kube-scheduler has one candidate left, so it preempts there: the
		// memory the victims free is kept for the pod from now on, not from
		// when its nomination reaches the extender's informer (Cache
		// keepNominated), which a lower-priority pod could outrun.
		for name, v := range out {
			plan := gpushare.Plan{Node: name, Awaited: awaited}
			for _, p := range v.Pods {
				plan.Victims = append(plan.Victims, gpushare.Victim{UID: types.UID(p.UID)})
			}
			key := types.NamespacedName{Namespace: args.Pod.Namespace, Name: args.Pod.Name}
			d.GPU.Nominate(args.Pod.UID, key, plan, req, policy, d.Now())
		}
	}
	return &extenderv1.ExtenderPreemptionResult{NodeNameToMetaVictims: out}, nil
}

// metaVictims is the candidates of a preempt call by pod UID, as a
// nodeCacheCapable extender is sent them, or from the pods when not; a
// null node or pod is left out (kube-scheduler sends none, and would not
// survive one sent back).
func metaVictims(args *extenderv1.ExtenderPreemptionArgs) map[string]*extenderv1.MetaVictims {
	if args.NodeNameToMetaVictims != nil || args.NodeNameToVictims == nil {
		out := make(map[string]*extenderv1.MetaVictims, len(args.NodeNameToMetaVictims))
		for name, v := range args.NodeNameToMetaVictims {
			if v == nil {
				continue
			}
			m := &extenderv1.MetaVictims{NumPDBViolations: v.NumPDBViolations}
			for _, p := range v.Pods {
				if p != nil {
					m.Pods = append(m.Pods, p)
				}
			}
			out[name] = m
		}
		return out
	}
	out := make(map[string]*extenderv1.MetaVictims, len(args.NodeNameToVictims))
	for name, v := range args.NodeNameToVictims {
		if v == nil {
			continue
		}
		m := &extenderv1.MetaVictims{NumPDBViolations: v.NumPDBViolations}
		for _, p := range v.Pods {
			if p != nil {
				m.Pods = append(m.Pods, &extenderv1.MetaPod{UID: string(p.UID)})
			}
		}
		out[name] = m
	}
	return out
}

// PrioritizeGPU scores nodes by how well the pod's cards fit its policy.
func (d *Decider) PrioritizeGPU(args *extenderv1.ExtenderArgs) (extenderv1.HostPriorityList, error) {
	names, err := nodeNames(args)
	if err != nil {
		return nil, err
	}
	req, policy, err := d.request(args.Pod)
	if errors.Is(err, gpushare.ErrNoGPU) {
		// Not a GPU pod: every node scores the same (neutral).
		out := make(extenderv1.HostPriorityList, len(names))
		for i, name := range names {
			out[i] = extenderv1.HostPriority{Host: name}
		}
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	scores := d.GPU.Scores(names, req, policy)
	out := make(extenderv1.HostPriorityList, len(names))
	for i, name := range names {
		out[i] = extenderv1.HostPriority{Host: name, Score: scale(scores[i])}
	}
	return out, nil
}

// PrioritizeBalance scores nodes by how even the cluster ends up (see
// internal/balance for the formula). The protocol's scores are 0-10; the
// best node alone gets 10 and the others 0-9 on the same scale, so that the
// scheduler (whose own plugins give every node the same score for a pod
// without preferences, in the zz-scheduler profile) goes where the book
// expects. Ties at 10 would let it pick at random among them, and the pods
// scored before the informer shows where the last ones went would herd.
func (d *Decider) PrioritizeBalance(args *extenderv1.ExtenderArgs) (extenderv1.HostPriorityList, error) {
	names, err := nodeNames(args)
	if err != nil {
		return nil, err
	}
	nodes, mean := d.Usage.Snapshot(names, balance.AppKey(args.Pod))
	scores, best := balance.Scores(nodes, balance.PodRequests(args.Pod), mean, d.Weights)
	out := make(extenderv1.HostPriorityList, len(names))
	for i, name := range names {
		out[i] = extenderv1.HostPriority{Host: name, Score: belowTop(float64(scores[i]) / balance.MaxScore)}
	}
	if best >= 0 {
		out[best].Score = extenderv1.MaxExtenderPriority
		// The scheduler binds without telling us where: count the pod on
		// the node it will almost surely take until the informer says.
		// A copy: names share the request's one string (codec.go).
		d.Usage.Assume(args.Pod, strings.Clone(names[best]), d.Now())
	}
	return out, nil
}

// belowTop maps a score in [0, 1] to [0, MaxExtenderPriority-1].
func belowTop(f float64) int64 {
	s := int64(f*float64(extenderv1.MaxExtenderPriority-1) + 0.5)
	return min(max(s, extenderv1.MinExtenderPriority), extenderv1.MaxExtenderPriority-1)
}

// scale maps a score in [0, 1] to the protocol's [0, MaxExtenderPriority].
func scale(f float64) int64 {
	s := int64(f*float64(extenderv1.MaxExtenderPriority) + 0.5)
	return min(max(s, extenderv1.MinExtenderPriority), extenderv1.MaxExtenderPriority)
}
