package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpuinspect"
	"github.com/zzcloud/zz/internal/gpushare"
)

// GPUOptions shows the cluster's shared GPUs.
type GPUOptions struct {
	Nodes []string

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
		Short: "Show GPU cards per node: model, memory allocated and free, and the pods on each",
		Long: `Show what the zz scheduler extender sees of the cluster's shared GPUs: per node and
card, the model, total memory, memory allocated to pods (bound or assumed), free memory
and the pods holding it. It reads the same node inventory and pod annotations as the
extender, so it shows what the next scheduling decision will see.`,
		Example: `  # every GPU node
  kubectl zz gpu
  # one node, with card UUIDs and each pod's memory
  kubectl zz gpu gpu-a100-1 -o wide
  # two clusters in one table
  kubectl zz gpu --context prod-a,prod-b`,
		RunE: runOptions(o),
	}
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
func (o *GPUOptions) Validate() error { return o.print.validate() }

// gpuItem is one node in one cluster, as -o json prints it.
type gpuItem struct {
	Cluster string `json:"cluster,omitempty"`
	gpushare.NodeView
}

// Run collects and prints.
func (o *GPUOptions) Run(cmd *cobra.Command) error {
	several := len(o.targets) > 1
	var tbl *table
	var items []*unstructured.Unstructured
	for _, t := range o.targets {
		views, warnings, err := gpuinspect.Collect(cmd.Context(), t.client, o.Nodes)
		for _, w := range warnings {
			fmt.Fprintln(o.ErrOut, "warning:", contextErr(t.context, fmt.Errorf("%s", w)))
		}
		if err != nil {
			return contextErr(t.context, err)
		}
		header, rows := gpuinspect.Table(views, o.print.wide())
		if tbl == nil {
			tbl = newTable(header...)
		}
		for _, r := range rows {
			tbl.add(t.name, r...)
		}
		for _, v := range views {
			it := gpuItem{NodeView: v}
			if several {
				it.Cluster = t.name
			}
			u, err := printable(contract.OutputKindGPUNode, v.Name, it)
			if err != nil {
				return err
			}
			items = append(items, u)
		}
	}
	if !o.print.table() {
		return o.print.printItems(o.Out, items)
	}
	if len(tbl.rows) == 0 {
		fmt.Fprintln(o.ErrOut, "No GPU nodes found: no node carries the "+contract.AnnotationNodeGPUInventory+" annotation (is the zz device plugin running?).")
		return nil
	}
	return tbl.print(o.Out, several)
}
