package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/util/retry"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// GPUCordonOptions takes cards of one node out of scheduling (cordon) or
// gives them back (uncordon), as kubectl cordon does for a node.
type GPUCordonOptions struct {
	On     bool
	DryRun string

	node        string
	cards       []string
	target      target
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewCmdGPUCordon returns "kubectl zz gpu cordon" (on) or "uncordon".
func NewCmdGPUCordon(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, on bool) *cobra.Command {
	o := &GPUCordonOptions{On: on, DryRun: dryRunNone, configFlags: configFlags, IOStreams: streams}
	verb, short := "uncordon", "Give cordoned GPU cards of a node back to scheduling"
	long := `Give cards cordoned with kubectl zz gpu cordon back to the zz scheduler extender:
new GPU pods may be placed on them again, and the pods that waited for memory there are
retried at once.`
	example := `  kubectl zz gpu uncordon gpu-a100-1 2`
	if on {
		verb, short = "cordon", "Take GPU cards of a node out of scheduling, leaving its pods running"
		long = `Mark cards of a node unschedulable: the zz scheduler extender places no new GPU pod on
them, as kubectl cordon does for a whole node, while the pods already on them keep
running and keep their memory. Use it for a card that misbehaves before the device
plugin's health check sees it (ECC errors pending retirement, a card to be drained
for maintenance), on a node whose other cards stay in use. kubectl zz gpu shows the
card unhealthy with reason "cordoned (zz.io/gpu-cordon)", and a pod that fits
nowhere else says so in its FailedScheduling event.

CARD is a card's index on the node or its UUID, as kubectl zz gpu -o wide shows them.
The list is the node's zz.io/gpu-cordon annotation; changing nodes needs the right to
patch them (cluster admins), which tenants do not have.`
		example = `  # take card 2 of gpu-a100-1 out of scheduling
  kubectl zz gpu cordon gpu-a100-1 2
  # by UUID, showing what would change without changing it
  kubectl zz gpu cordon gpu-a100-1 GPU-8f2b7f4e-0c7d-4c2e-9a1b-5d6e7f809a1b --dry-run=server`
	}
	cmd := &cobra.Command{
		Use:               verb + " NODE CARD...",
		Short:             short,
		Long:              long,
		Example:           example,
		Args:              cobra.MinimumNArgs(2),
		ValidArgsFunction: completeGPUCards(configFlags, on),
		RunE:              runOptions(o),
	}
	addDryRunFlag(cmd.Flags(), `"client" (print what would change) or "server" (the API server checks the change and stores nothing)`, dryRunClient, nil,
		func(s string) { o.DryRun = s })
	return cmd
}

// Complete connects to the cluster.
func (o *GPUCordonOptions) Complete(args []string) error {
	o.node, o.cards = args[0], args[1:]
	var err error
	o.target, err = oneTarget(o.configFlags, "cordon")
	return err
}

// Validate checks the flags; it does no I/O (--dry-run is checked as it
// is parsed).
func (o *GPUCordonOptions) Validate() error { return nil }

// Run edits the node's cordon list, retrying on a conflicting write.
func (o *GPUCordonOptions) Run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	var changed []string
	var cards []contract.GPU
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := o.target.client.CoreV1().Nodes().Get(ctx, o.node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		inv, err := contract.ParseInventory(node.Annotations[contract.AnnotationNodeGPUInventory])
		if err != nil {
			return fmt.Errorf("node %s: %w", o.node, err)
		}
		if cards, err = namedCards(inv, o.cards); err != nil {
			return fmt.Errorf("node %s: %w", o.node, err)
		}
		uuids := make([]string, len(cards))
		for i, c := range cards {
			uuids[i] = c.UUID
		}
		var next string
		if next, changed, err = gpushare.EditCordon(node.Annotations[contract.AnnotationNodeGPUCordon], uuids, o.On); err != nil {
			return fmt.Errorf("node %s: %w", o.node, err)
		}
		if len(changed) == 0 || o.DryRun == dryRunClient {
			return nil
		}
		return o.patch(ctx, node, next)
	})
	if err != nil {
		return err
	}
	verb := map[bool]string{true: "cordoned", false: "uncordoned"}[o.On]
	suffix := map[string]string{dryRunNone: "", dryRunClient: " (dry run)", dryRunServer: " (server dry run)"}[o.DryRun]
	for _, c := range cards {
		what := verb
		if !slices.Contains(changed, c.UUID) {
			what = "already " + verb
		}
		fmt.Fprintf(o.Out, "node/%s card %d (%s) %s%s\n", o.node, c.Index, c.UUID, what, suffix)
	}
	return nil
}

// patch writes the cordon list (none left: the annotation goes) only over
// the node as read: a concurrent edit is a conflict, read again.
func (o *GPUCordonOptions) patch(ctx context.Context, node *corev1.Node, next string) error {
	var value any = next
	if next == "" {
		value = nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": node.ResourceVersion,
		"annotations":     map[string]any{contract.AnnotationNodeGPUCordon: value},
	}})
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: contract.ManagedBy}
	if o.DryRun == dryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = o.target.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, body, opts)
	return err
}

// namedCards resolves CARD arguments (an index or a UUID, in any case) to
// the inventory's cards, each once.
func namedCards(inv *contract.NodeGPUInventory, args []string) ([]contract.GPU, error) {
	var out []contract.GPU
	for _, arg := range args {
		i := slices.IndexFunc(inv.Cards, func(c contract.GPU) bool {
			return strings.EqualFold(c.UUID, arg) || strconv.Itoa(c.Index) == arg
		})
		if i < 0 {
			var have []string
			for _, c := range inv.Cards {
				have = append(have, fmt.Sprintf("%d (%s)", c.Index, c.UUID))
			}
			return nil, fmt.Errorf("no card %q; its cards are %s", arg, strings.Join(have, ", "))
		}
		if c := inv.Cards[i]; !slices.ContainsFunc(out, func(o contract.GPU) bool { return o.UUID == c.UUID }) {
			out = append(out, c)
		}
	}
	return out, nil
}

// completeGPUCards completes a GPU node's name, then its cards' indexes
// (those cordoned for uncordon, the others for cordon).
func completeGPUCards(f *genericclioptions.ConfigFlags, on bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		targets, err := resolveTargets(f, true, io.Discard)
		if err != nil || len(targets) != 1 {
			return nil, cobra.ShellCompDirectiveError
		}
		client := targets[0].client
		if len(args) == 0 {
			return completeGPUNodes(f)(cmd, args, toComplete)
		}
		node, err := client.CoreV1().Nodes().Get(cmd.Context(), args[0], metav1.GetOptions{})
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		inv, err := contract.ParseInventory(node.Annotations[contract.AnnotationNodeGPUInventory])
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		list, _ := gpushare.ParseCordon(node.Annotations[contract.AnnotationNodeGPUCordon])
		var cards []cobra.Completion
		for _, c := range inv.Cards {
			if gpushare.ListsUUID(list, c.UUID) != on && !slices.Contains(args[1:], strconv.Itoa(c.Index)) {
				cards = append(cards, cobra.CompletionWithDesc(strconv.Itoa(c.Index), c.Model+" "+c.UUID))
			}
		}
		return cards, cobra.ShellCompDirectiveNoFileComp
	}
}
