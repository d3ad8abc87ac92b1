package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/gpuinspect"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/internal/prose"
)

// GPUOptions shows the cluster's shared GPUs.
type GPUOptions struct {
	Nodes []string
	// Pods lists pods instead of cards; Selector and AllNamespaces pick them.
	Pods bool
	// Shapes lists the request shapes of the live GPU pods and the room
	// the nodes have for each, instead of cards.
	Shapes        bool
	Selector      string
	AllNamespaces bool
	// Fit judges one pod on every GPU node instead, as the extender would
	// now: a memory per card ("24Gi", with FitCards, FitModels,
	// FitAvoidModels, FitUUIDs, FitAvoidUUIDs, FitNUMABind and FitWhole) or
	// "pod/NAME", a pending pod of the
	// namespace. Policy is the placement policy where the pod names none.
	Fit            string
	FitCards       int
	FitModels      string
	FitAvoidModels string
	FitUUIDs       string
	FitAvoidUUIDs  string
	FitNUMABind    bool
	FitWhole       bool
	Policy         string

	fitReq gpushare.Request
	fitPod string
	policy gpushare.Policy

	selector labels.Selector
	// nodesForbidden: --pods fell back to the namespace's own pods, the
	// user may not list nodes (so may not run --fit either).
	nodesForbidden bool
	targets        []target
	print          *printFlags
	configFlags    *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewCmdGPU returns "kubectl zz gpu".
func NewCmdGPU(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &GPUOptions{configFlags: configFlags, print: newPrintFlags(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "gpu [NODE...]",
		Short: "Show GPU cards per node, or GPU pods and apps: memory requested, used and free",
		Long: `Show what the zz scheduler extender sees of the cluster's shared GPUs: per node and
card, the model, total memory, memory allocated to pods (bound or assumed), free memory
(0 on a card whose sharing slots are all taken) and the pods holding it. It reads the
same node inventory and pod annotations as the extender, so it shows what the next
scheduling decision will see.

With --pods it lists GPU pods instead (in the namespace, or every one with -A): per
card, the memory each requested (zz.io/gpu-mem) against what its processes use, as the
zz device plugin of its node measures and publishes it (zz.io/gpu-mem-used, refreshed
at most every --usage-annotation-interval), OVER when a pod uses more than it asked for,
then the sums per app (zz.io/app label).

With --shapes it lists the request shapes of the cluster's live GPU pods (memory
per card, cards, share of those pods) and, for each, how many more pods of it the
nodes could take (MORE, each node counted alone) and the free memory no pod of it
can use (UNUSABLE FREE: holes smaller than it asks, or nodes with too few such
cards). MORE 0 with much UNUSABLE FREE is fragmentation: the next pod of that shape
stays Pending although memory is free. This is what the extender's binpack weighs
(its zz_gpu_shape_* metrics, over the last 1,000 GPU pods it saw).

With --fit it judges one pod on every GPU node, as the extender would now: a
request (memory per card, with --cards, --gpu-model, --avoid-gpu-model, --gpu-card, --avoid-gpu-card,
--numa-bind and --whole) or pod/NAME, a pending pod of the namespace. Per node: whether it fits,
the cards the policy would choose (--policy, binpack as the extender's default
unless the pod names one), how many such pods the node could take (MORE) and,
where it does not fit, the extender's reason, the one a Pending pod's
FailedScheduling event carries.`,
		Example: `  # every GPU node
  kubectl zz gpu
  # one node, with card UUIDs, the memory in use and each pod's requested/used memory
  kubectl zz gpu gpu-a100-1 -o wide
  # the GPU pods of this namespace, requested vs used, and per app
  kubectl zz gpu --pods
  # one app's pods in every namespace
  kubectl zz gpu --pods -A -l zz.io/app=vision
  # the shapes pods ask for, and room left for each
  kubectl zz gpu --shapes
  # two clusters in one table
  kubectl zz gpu --context prod-a,prod-b
  # where a pod of 24Gi on each of 2 A100s would go now, and how many more fit
  kubectl zz gpu --fit 24Gi --cards 2 --gpu-model A100
  # why a pending pod waits: each node's reason
  kubectl zz gpu --fit pod/trainer-0 -n ml
  # take card 2 of a node out of scheduling (admins), and give it back
  kubectl zz gpu cordon gpu-a100-1 2
  kubectl zz gpu uncordon gpu-a100-1 2`,
		// --cards 0 is no default: it asks for no card, which no pod does.
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("cards") && (o.FitCards < 1 || o.FitCards > gpushare.MaxCards) {
				return fmt.Errorf("--cards %d: a pod asks for 1 to %d cards", o.FitCards, gpushare.MaxCards)
			}
			return nil
		},
		RunE: runOptions(o),
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Pods, "pods", false, "List GPU pods (requested vs used memory per card, OVER when over the request) and the sums per app, instead of cards")
	fl.BoolVar(&o.Shapes, "shapes", false, "List the request shapes of the live GPU pods and how many more pods of each the nodes could take, instead of cards")
	fl.StringVarP(&o.Selector, "selector", "l", "", "With --pods: label selector of the pods (e.g. zz.io/app=vision)")
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "With --pods: every namespace")
	fl.StringVar(&o.Fit, "fit", "", "Judge one pod on every GPU node instead: a memory per card (24Gi) or pod/NAME, a pending pod")
	fl.IntVar(&o.FitCards, "cards", 0, "With --fit MEMORY: cards per pod (default 1)")
	fl.StringVar(&o.FitModels, "gpu-model", "", "With --fit MEMORY: only cards whose model contains one of these, comma-separated (zz.io/gpu-model)")
	fl.StringVar(&o.FitAvoidModels, "avoid-gpu-model", "", "With --fit MEMORY: no card whose model contains one of these, comma-separated (zz.io/gpu-model-avoid)")
	fl.StringVar(&o.FitUUIDs, "gpu-card", "", "With --fit MEMORY: only the cards with one of these UUIDs, comma-separated (zz.io/gpu-card)")
	fl.StringVar(&o.FitAvoidUUIDs, "avoid-gpu-card", "", "With --fit MEMORY: none of the cards with these UUIDs, comma-separated (zz.io/gpu-card-avoid)")
	fl.BoolVar(&o.FitNUMABind, "numa-bind", false, "With --fit MEMORY: all the pod's cards on one NUMA node (zz.io/gpu-numa-bind)")
	fl.BoolVar(&o.FitWhole, "whole", false, "With --fit MEMORY: whole cards of any size up to MEMORY, of one size, no other pod on them (zz.io/gpu-whole)")
	fl.StringVar(&o.Policy, "policy", "", "With --fit: the placement policy where the pod names none: binpack (the extender's default), bestfit or spread")
	cmd.ValidArgsFunction = completeGPUNodes(configFlags)
	_ = cmd.RegisterFlagCompletionFunc("fit", completeWaitingGPUPods(configFlags))
	_ = cmd.RegisterFlagCompletionFunc("policy", cobra.FixedCompletions([]string{contract.PolicyBinpack, contract.PolicyBestFit, contract.PolicySpread}, cobra.ShellCompDirectiveNoFileComp))
	o.print.addFlags(cmd)
	o.print.addNoHeaders(cmd)
	cmd.AddCommand(NewCmdGPUCordon(configFlags, streams, true), NewCmdGPUCordon(configFlags, streams, false))
	return cmd
}

// Complete connects to every --context.
func (o *GPUOptions) Complete(args []string) error {
	// A node as -o name prints it (gpunode.zz.io/NAME) or kubectl does
	// (node/NAME), so kubectl zz gpu -o name | xargs kubectl zz gpu works.
	gpuNodePrefix := strings.ToLower(contract.OutputKindGPUNode) + "." + strings.Split(contract.OutputAPIVersion, "/")[0] + "/"
	o.Nodes = make([]string, len(args))
	for i, a := range args {
		o.Nodes[i] = nameOf(a, gpuNodePrefix, "node/", "nodes/")
	}
	var err error
	o.targets, err = resolveTargets(o.configFlags, true, o.ErrOut)
	return err
}

// Validate checks the flags; it does no I/O.
func (o *GPUOptions) Validate() error {
	if !o.Pods && (o.Selector != "" || o.AllNamespaces) {
		return errors.New("--selector and --all-namespaces choose pods: add --pods")
	}
	if o.Pods && o.Shapes {
		return errors.New("--pods and --shapes are two views: give one")
	}
	if o.Shapes && len(o.Nodes) > 0 {
		return errors.New("--shapes counts every GPU node: drop the node names")
	}
	if err := o.validateFit(); err != nil {
		return err
	}
	sel, err := labels.Parse(o.Selector)
	if err != nil {
		return fmt.Errorf("--selector %q: %w", o.Selector, err)
	}
	o.selector = sel
	return o.print.validate()
}

// validateFit checks --fit and the flags that shape its request.
func (o *GPUOptions) validateFit() error {
	shaping := o.FitCards != 0 || o.FitModels != "" || o.FitAvoidModels != "" || o.FitUUIDs != "" || o.FitAvoidUUIDs != "" || o.FitNUMABind || o.FitWhole
	if o.Fit == "" {
		if shaping || o.Policy != "" {
			return errors.New("--cards, --gpu-model, --avoid-gpu-model, --gpu-card, --avoid-gpu-card, --numa-bind, --whole and --policy describe the pod --fit judges: add --fit 24Gi (or --fit pod/NAME)")
		}
		return nil
	}
	if o.Pods || o.Shapes {
		return errors.New("--fit, --pods and --shapes are three views: give one")
	}
	var err error
	if o.policy, err = gpushare.ParsePolicy(o.Policy, gpushare.Binpack); err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	if name, ok := strings.CutPrefix(o.Fit, "pod/"); ok {
		if shaping {
			return fmt.Errorf("--fit %s judges what the pod asks for: drop --cards, --gpu-model, --avoid-gpu-model, --gpu-card, --avoid-gpu-card, --numa-bind and --whole", o.Fit)
		}
		if name == "" {
			return errors.New("--fit pod/ names no pod: write pod/NAME")
		}
		o.fitPod = name
		return nil
	}
	q, err := resource.ParseQuantity(o.Fit)
	if err != nil {
		return fmt.Errorf("--fit %q is neither GPU memory per card (24Gi, 3000Mi) nor pod/NAME", o.Fit)
	}
	cards := int64(o.FitCards)
	if o.FitCards == 0 {
		cards = 1
	}
	if o.fitReq, err = gpushare.NewRequest(q, cards); err != nil {
		return fmt.Errorf("--fit: %w", err)
	}
	o.fitReq.SameNUMA, o.fitReq.Whole = o.FitNUMABind, o.FitWhole
	if o.FitModels != "" {
		if o.fitReq.Models, err = gpushare.ParseModels(o.FitModels); err != nil {
			return fmt.Errorf("--gpu-model: %w", err)
		}
	}
	if o.FitAvoidModels != "" {
		if o.fitReq.AvoidModels, err = gpushare.ParseModels(o.FitAvoidModels); err != nil {
			return fmt.Errorf("--avoid-gpu-model: %w", err)
		}
	}
	if o.FitUUIDs != "" {
		if o.fitReq.UUIDs, err = gpushare.ParseUUIDs(o.FitUUIDs); err != nil {
			return fmt.Errorf("--gpu-card: %w", err)
		}
	}
	if o.FitAvoidUUIDs != "" {
		if o.fitReq.AvoidUUIDs, err = gpushare.ParseUUIDs(o.FitAvoidUUIDs); err != nil {
			return fmt.Errorf("--avoid-gpu-card: %w", err)
		}
	}
	return nil
}

// gpuItem is one node in one cluster, as -o json prints it.
type gpuItem struct {
	Cluster string `json:"cluster,omitempty"`
	gpushare.NodeView
}

// gpuPodItem and gpuAppItem are --pods' rows, as -o json prints them.
type gpuPodItem struct {
	Cluster string `json:"cluster,omitempty"`
	gpuinspect.PodGPU
}

type gpuAppItem struct {
	Cluster string `json:"cluster,omitempty"`
	gpuinspect.AppGPU
}

// gpuShapeItem is one --shapes row, as -o json prints it.
type gpuShapeItem struct {
	Cluster string `json:"cluster,omitempty"`
	gpushare.ShapeRoom
}

// gpuOutput gathers every cluster's tables and items.
type gpuOutput struct {
	several      bool
	noHeaders    bool
	tables       []*table
	items        []*unstructured.Unstructured
	emptyMessage string
}

func (g *gpuOutput) add(i int, cluster string, header []string, rows [][]string) {
	for len(g.tables) <= i {
		g.tables = append(g.tables, nil)
	}
	if g.tables[i] == nil {
		g.tables[i] = newTable(header...)
		g.tables[i].noHeaders = g.noHeaders
	}
	for _, r := range rows {
		g.tables[i].add(cluster, r...)
	}
}

func (g *gpuOutput) item(kind, namespace, name string, v any) error {
	u, err := printable(kind, name, v)
	if err != nil {
		return err
	}
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	g.items = append(g.items, u)
	return nil
}

// viewHint adds, to the error of a node not found, the flag a user meant who
// typed a view as a word (kubectl zz gpu pods), as kubectl get would take it.
func viewHint(err error, nodes []string) error {
	views := map[string]string{"pods": "--pods", "pod": "--pods", "apps": "--pods", "shapes": "--shapes", "fit": "--fit 24Gi"}
	for _, n := range nodes {
		if flag, ok := views[n]; ok {
			return fmt.Errorf("%w; for the %s view, use the flag: kubectl zz gpu %s", err, n, flag)
		}
	}
	return err
}

// collect reads what the view needs. The pods view falls back, for a user
// who may not list nodes or every pod (a tenant), to the pods of the
// namespace as their annotations record them, and says so once.
func (o *GPUOptions) collect(cmd *cobra.Command, t target) (*gpuinspect.Snapshot, error) {
	snap, err := gpuinspect.Collect(cmd.Context(), t.client, o.Nodes)
	if err == nil || !apierrors.IsForbidden(err) {
		return snap, err
	}
	if !o.Pods || len(o.Nodes) > 0 {
		// A namespace developer (edit, view) reads no nodes: say what is
		// theirs to read (an app-developer audit).
		return nil, fmt.Errorf("%w; the cards' view and --fit read every node and pod of the cluster, which a namespace role does not: kubectl zz gpu --pods shows this namespace's GPU pods; a cluster admin may bind ClusterRole zz-gpu-viewer (manifests/developer) for the rest (a GPU app refused for its size is told the largest card in the refusal)", err)
	}
	ns := t.namespace
	if o.AllNamespaces {
		ns = metav1.NamespaceAll
	}
	own, ownErr := gpuinspect.CollectPods(cmd.Context(), t.client, ns)
	if ownErr != nil {
		return nil, err // the first refusal says what is missing
	}
	fmt.Fprintln(o.ErrOut, "warning:", contextErr(t.context, fmt.Errorf("%v; the pods' cards are shown as their zz.io annotations record them, not checked against the nodes", err)))
	o.nodesForbidden = true
	return own, nil
}

// Run collects and prints.
func (o *GPUOptions) Run(cmd *cobra.Command) error {
	out := &gpuOutput{several: len(o.targets) > 1, noHeaders: o.print.NoHeaders}
	for _, t := range o.targets {
		snap, err := o.collect(cmd, t)
		if err != nil {
			return contextErr(t.context, viewHint(err, o.Nodes))
		}
		for _, w := range snap.Warnings {
			fmt.Fprintln(o.ErrOut, "warning:", contextErr(t.context, fmt.Errorf("%s", w)))
		}
		cluster := ""
		if out.several {
			cluster = t.name
		}
		switch {
		case o.Fit != "":
			err = o.addFits(cmd, out, t, cluster, snap)
		case o.Pods:
			err = o.addPods(out, t, cluster, snap)
		case o.Shapes:
			err = o.addShapes(out, t, cluster, snap)
		default:
			err = o.addCards(out, t, cluster, snap)
		}
		if err != nil {
			return err
		}
	}
	if !o.print.table() {
		return o.print.printItems(o.Out, out.items)
	}
	if len(out.tables) == 0 || len(out.tables[0].rows) == 0 {
		fmt.Fprintln(o.ErrOut, out.emptyMessage+o.waitingNote(cmd))
		return nil
	}
	for i, tbl := range out.tables {
		if i > 0 {
			fmt.Fprintln(o.Out)
		}
		if err := tbl.print(o.Out, out.several); err != nil {
			return err
		}
	}
	// The pods that wait are on no card, so in no row: said beside the
	// table too, where only an empty table said it (an ML-engineer audit
	// looked for a surge pod that waited).
	if note := o.waitingNote(cmd); note != "" {
		fmt.Fprintln(o.ErrOut, strings.TrimSpace(note))
	}
	return nil
}

// addCards is the default view: one row per card.
func (o *GPUOptions) addCards(out *gpuOutput, t target, cluster string, snap *gpuinspect.Snapshot) error {
	out.emptyMessage = "No GPU nodes found: no node carries the " + contract.AnnotationNodeGPUInventory + " annotation (is the zz device plugin running?)."
	header, rows := gpuinspect.Table(snap, o.print.wide())
	out.add(0, t.name, header, rows)
	for _, v := range snap.Nodes {
		if err := out.item(contract.OutputKindGPUNode, "", v.Name, gpuItem{Cluster: cluster, NodeView: v}); err != nil {
			return err
		}
	}
	return nil
}

// gpuFitItem is one --fit row, as -o json prints it.
type gpuFitItem struct {
	Cluster string           `json:"cluster,omitempty"`
	Request gpushare.Request `json:"request"`
	Policy  gpushare.Policy  `json:"policy"`
	gpushare.NodeFit
}

// addFits is --fit: one row per GPU node, and a summary on stderr.
func (o *GPUOptions) addFits(cmd *cobra.Command, out *gpuOutput, t target, cluster string, snap *gpuinspect.Snapshot) error {
	out.emptyMessage = "No GPU nodes found: no node carries the " + contract.AnnotationNodeGPUInventory + " annotation (is the zz device plugin running?)."
	req, policy := o.fitReq, o.policy
	var pod, preemptor *corev1.Pod
	untried := ""
	if o.fitPod != "" {
		var err error
		pod, err = t.client.CoreV1().Pods(t.namespace).Get(cmd.Context(), o.fitPod, metav1.GetOptions{})
		if err != nil {
			return contextErr(t.context, err)
		}
		if pod.Spec.NodeName != "" {
			return contextErr(t.context, fmt.Errorf("pod %s/%s is already on node %s: --fit judges a pod that waits, or a request such as --fit 24Gi", pod.Namespace, pod.Name, pod.Spec.NodeName))
		}
		if req, policy, err = gpushare.PodPlacement(pod, o.policy); err != nil {
			return contextErr(t.context, fmt.Errorf("pod %s/%s: %w%s", pod.Namespace, pod.Name, err, deploy.GPUAskHint(pod, "")))
		}
		if pod.Spec.PreemptionPolicy == nil || *pod.Spec.PreemptionPolicy != corev1.PreemptNever {
			preemptor = pod
		}
		// Room is not why it waits when no scheduler has looked at it, or
		// when its scheduler cannot give it cards.
		if why := deploy.UntriedReason(pod, time.Now()); why != "" {
			untried = "; but " + why
		}
		if why := deploy.GPUAskHint(pod, ""); why != "" {
			untried = "; but" + strings.TrimPrefix(why, ";")
		}
		// Nor when its scheduling failed with an error (an extender down).
		if p, ok := deploy.PodProblem(pod); ok && p.Reason == corev1.PodReasonSchedulerError {
			untried = "; but its last scheduling failed with an error, not for room: " + p.Detail
		}
	}
	fits := snap.Fits(req, policy)
	if pod != nil && !gpushare.AsksGPU(pod) {
		// The extender's filter refuses it on every node, and preempts
		// nothing for it.
		gpuinspect.Refuse(fits, gpushare.ErrNoCardResource)
		preemptor = nil
	}
	kept := ""
	if pod != nil {
		if n := snap.Exclude(fits, pod); n > 0 {
			kept = fmt.Sprintf(" (%d kept off by the pod's node selector, affinity or taints)", n)
		}
	} else if n := snap.ExcludeCordoned(fits); n > 0 {
		kept = fmt.Sprintf(" (%d cordoned)", n)
	}
	preempting := ""
	if preemptor != nil {
		if n := snap.Preempt(fits, req, corev1helpers.PodPriority(preemptor)); n > 0 {
			preempting = fmt.Sprintf(" (preemption would make room on %d more)", n)
		}
		// A preemption under way: the extender evicted its victims and keeps
		// what they free for it (the pod waits for them to terminate).
		if rec, err := gpushare.ParseNominationRecord(preemptor.Annotations[contract.AnnotationGPUNomination]); err == nil {
			preempting += fmt.Sprintf("; the extender evicted pods for it on node %s %s ago", rec.Node, time.Since(rec.Since).Round(time.Second))
			switch p, ok := snap.Preemption(preemptor.UID); {
			case !ok && time.Since(rec.Since) > gpushare.DefaultAssumeTTL:
				preempting += fmt.Sprintf(", a preemption that has lapsed (kept at most %s)", gpushare.DefaultAssumeTTL)
			case !ok:
				preempting += ", but keeps nothing for it now: the memory they freed was taken meanwhile, and it plans again at the pod's next try"
			case p.Held:
				preempting += fmt.Sprintf(", which are gone: it keeps cards on node %s for it", p.Node)
			default:
				preempting += fmt.Sprintf(" and keeps the memory they free for it (%d still terminating)", p.Waiting)
			}
		}
	}
	header, rows := gpuinspect.FitTable(fits)
	out.add(0, t.name, header, rows)
	nodes, more := 0, 0
	for _, f := range fits {
		if f.Fits {
			nodes++
		}
		more += f.More
		if err := out.item(contract.OutputKindGPUFit, "", f.Node, gpuFitItem{Cluster: cluster, Request: req, Policy: policy, NodeFit: f}); err != nil {
			return err
		}
	}
	if len(fits) > 0 {
		prefix := ""
		if out.several {
			prefix = t.name + ": "
		}
		fmt.Fprintf(o.ErrOut, "%s%s (%s): fits %d of %d GPU nodes now%s%s; %d such pods fit in all, each node counted alone%s%s\n",
			prefix, req, policy, nodes, len(fits), kept, preempting, more, quotaNote(cmd, t, req), untried)
	}
	return nil
}

// quotaNote says how many such pods the namespace's ResourceQuotas on GPU
// memory or cards still admit ("" without such a quota, or without the
// right to read quotas: the nodes' answer stands alone then).
func quotaNote(cmd *cobra.Command, t target, req gpushare.Request) string {
	list, err := t.client.CoreV1().ResourceQuotas(t.namespace).List(cmd.Context(), metav1.ListOptions{})
	if err != nil {
		return ""
	}
	n, binding, ok := gpuinspect.QuotaRoom(list.Items, req)
	if !ok {
		return ""
	}
	return fmt.Sprintf("; namespace %s's quota admits %d more (%s)", t.namespace, n, binding)
}

// addShapes is --shapes: one row per request shape of the live GPU pods.
func (o *GPUOptions) addShapes(out *gpuOutput, t target, cluster string, snap *gpuinspect.Snapshot) error {
	out.emptyMessage = "No GPU pods found: no shape to count room for."
	header, rows := gpuinspect.ShapeTable(snap.Shapes)
	out.add(0, t.name, header, rows)
	for _, r := range snap.Shapes {
		name := fmt.Sprintf("%dmi-x%d", r.MemMiB, r.Cards)
		if err := out.item(contract.OutputKindGPUShape, "", name, gpuShapeItem{Cluster: cluster, ShapeRoom: r}); err != nil {
			return err
		}
	}
	return nil
}

// waitingNote, for --pods, counts the namespace's GPU pods that wait for
// cards, which the view (cards and their use) leaves out.
func (o *GPUOptions) waitingNote(cmd *cobra.Command) string {
	if !o.Pods {
		return ""
	}
	var names []string
	var first, firstContext string // the first pod's name and context, for --fit
	for _, t := range o.targets {
		ns := t.namespace
		if o.AllNamespaces {
			ns = metav1.NamespaceAll
		}
		pods, err := waitingGPUPods(cmd.Context(), t, ns, o.Selector)
		if err != nil {
			return ""
		}
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			name := p.Name
			if o.AllNamespaces {
				name = p.Namespace + "/" + p.Name
			}
			if len(o.targets) > 1 {
				// Else --fit may be run against the wrong cluster.
				name += " in context " + t.name
			}
			if names == nil {
				first, firstContext = p.Name, t.name
			}
			names = append(names, name)
		}
	}
	// Named, and sent to --fit, which explains any pod: status knows only
	// the apps kubectl zz deployed (a docs audit: a Job's pod was sent there).
	if len(names) == 0 {
		return ""
	}
	if o.nodesForbidden {
		// --fit reads every node, which this user may not: sent there,
		// a GPU audit was refused.
		return fmt.Sprintf(" %d GPU %s waiting for cards (%s): the scheduler's events say why (kubectl zz status APP, for an app's pods; kubectl describe pod NAME); kubectl zz gpu --fit, which judges every node, needs ClusterRole zz-gpu-viewer.",
			len(names), map[bool]string{true: "pod is", false: "pods are"}[len(names) == 1], prose.Some(names, 3))
	}
	fit := "kubectl zz gpu --fit pod/" + first
	switch {
	case o.AllNamespaces:
		fit = "kubectl zz gpu --fit pod/NAME -n NAMESPACE"
	case len(names) > 1:
		fit = "kubectl zz gpu --fit pod/NAME"
	}
	switch {
	case len(o.targets) > 1 && len(names) == 1 && !o.AllNamespaces:
		fit += " --context " + firstContext
	case len(o.targets) > 1:
		fit += " --context CONTEXT"
	}
	return fmt.Sprintf(" %d GPU %s waiting for cards (%s): %s says why and where it would fit (kubectl zz status APP, for an app's pods).",
		len(names), map[bool]string{true: "pod is", false: "pods are"}[len(names) == 1], prose.Some(names, 3), fit)
}

// addPods is --pods: one row per pod and card, then one per app.
func (o *GPUOptions) addPods(out *gpuOutput, t target, cluster string, snap *gpuinspect.Snapshot) error {
	ns := t.namespace
	out.emptyMessage = "No GPU pods on cards in " + ns + " namespace."
	if o.AllNamespaces {
		ns = metav1.NamespaceAll
		out.emptyMessage = "No GPU pods on cards."
	}
	pods := gpuinspect.FilterPods(snap.Pods, ns, o.selector)
	apps := gpuinspect.Apps(pods)
	header, rows := gpuinspect.PodTable(pods, o.AllNamespaces, o.print.wide())
	out.add(0, t.name, header, rows)
	header, rows = gpuinspect.AppTable(apps, o.AllNamespaces)
	out.add(1, t.name, header, rows)
	for _, p := range pods {
		if err := out.item(contract.OutputKindGPUPod, p.Namespace, p.Name, gpuPodItem{Cluster: cluster, PodGPU: p}); err != nil {
			return err
		}
	}
	for _, a := range apps {
		if a.App == "" {
			continue // pods without zz.io/app are in the table's <none> row, not an app object with no name
		}
		if err := out.item(contract.OutputKindGPUApp, a.Namespace, a.App, gpuAppItem{Cluster: cluster, AppGPU: a}); err != nil {
			return err
		}
	}
	return nil
}
