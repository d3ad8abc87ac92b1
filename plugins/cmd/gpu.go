package cmd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpuinspect"
)

// GPUOptions shows the cluster's shared GPUs.
type GPUOptions struct {
	configFlags *genericclioptions.ConfigFlags
	client      kubernetes.Interface
	cfg         gpuinspect.Config
	genericiooptions.IOStreams
}

// NewCmdGPU returns "kubectl zz gpu".
func NewCmdGPU(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &GPUOptions{configFlags: configFlags, IOStreams: streams}
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
  kubectl zz gpu gpu-a100-1 -o wide`,
		RunE: runOptions(o),
	}
	cmd.Flags().StringVarP(&o.cfg.Output, "output", "o", "", "Output format: one of "+strings.Join(gpuinspect.Outputs, ", ")+".")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(gpuinspect.Outputs, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete builds the client from kubectl's flags.
func (o *GPUOptions) Complete(args []string) error {
	o.cfg.Nodes = args
	if o.client != nil {
		return nil
	}
	rc, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return err
	}
	o.client, err = kubernetes.NewForConfig(rc)
	return err
}

// Validate checks the flags; it does no I/O.
func (o *GPUOptions) Validate() error {
	if o.cfg.Output != "" && !slices.Contains(gpuinspect.Outputs, o.cfg.Output) {
		return fmt.Errorf("--output %q is not supported; use one of: %s", o.cfg.Output, strings.Join(gpuinspect.Outputs, ", "))
	}
	return nil
}

// Run collects and prints.
func (o *GPUOptions) Run(cmd *cobra.Command) error {
	views, warnings, err := gpuinspect.Collect(cmd.Context(), o.client, o.cfg.Nodes)
	for _, w := range warnings {
		fmt.Fprintln(o.ErrOut, "warning:", w)
	}
	if err != nil {
		return err
	}
	if len(views) == 0 && o.cfg.Output == "" {
		fmt.Fprintln(o.ErrOut, "No GPU nodes found: no node carries the "+contract.AnnotationNodeGPUInventory+" annotation (is the zz device plugin running?).")
		return nil
	}
	return gpuinspect.Print(o.Out, views, o.cfg.Output)
}
