package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpuinspect"
	"github.com/zzcloud/zz/internal/gpushare"
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

	selector    labels.Selector
	targets     []target
	print       *printFlags
	configFlags *genericclioptions.ConfigFlags
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
(its zz_gpu_shape_* metrics, over the last 1,000 GPU pods it saw).`,
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
  kubectl zz gpu --context prod-a,prod-b`,
		RunE: runOptions(o),
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.Pods, "pods", false, "List GPU pods (requested vs used memory per card, OVER when over the request) and the sums per app, instead of cards")
	fl.BoolVar(&o.Shapes, "shapes", false, "List the request shapes of the live GPU pods and how many more pods of each the nodes could take, instead of cards")
	fl.StringVarP(&o.Selector, "selector", "l", "", "With --pods: label selector of the pods (e.g. zz.io/app=vision)")
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "With --pods: every namespace")
	o.print.addFlags(cmd)
	return cmd
}

// Complete connects to every --context.
func (o *GPUOptions) Complete(args []string) error {
	o.Nodes = args
	var err error
	o.targets, err = resolveTargets(o.configFlags, true)
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
	sel, err := labels.Parse(o.Selector)
	if err != nil {
		return fmt.Errorf("--selector %q: %w", o.Selector, err)
	}
	o.selector = sel
	return o.print.validate()
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

// Run collects and prints.
func (o *GPUOptions) Run(cmd *cobra.Command) error {
	out := &gpuOutput{several: len(o.targets) > 1}
	for _, t := range o.targets {
		snap, err := gpuinspect.Collect(cmd.Context(), t.client, o.Nodes)
		if err != nil {
			return contextErr(t.context, err)
		}
		for _, w := range snap.Warnings {
			fmt.Fprintln(o.ErrOut, "warning:", contextErr(t.context, fmt.Errorf("%s", w)))
		}
		cluster := ""
		if out.several {
			cluster = t.name
		}
		switch {
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
		fmt.Fprintln(o.ErrOut, out.emptyMessage)
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

// addPods is --pods: one row per pod and card, then one per app.
func (o *GPUOptions) addPods(out *gpuOutput, t target, cluster string, snap *gpuinspect.Snapshot) error {
	ns := t.namespace
	out.emptyMessage = "No GPU pods found in " + ns + " namespace."
	if o.AllNamespaces {
		ns = metav1.NamespaceAll
		out.emptyMessage = "No GPU pods found."
	}
	pods := gpuinspect.FilterPods(snap.Pods, ns, o.selector)
	apps := gpuinspect.Apps(pods)
	header, rows := gpuinspect.PodTable(pods, o.AllNamespaces)
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
