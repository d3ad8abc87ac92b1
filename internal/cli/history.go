package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
)

// HistoryOptions is kubectl zz history.
type HistoryOptions struct {
	appTargets
	print *printFlags
	genericiooptions.IOStreams
}

// NewCmdHistory returns "kubectl zz history APP".
func NewCmdHistory(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &HistoryOptions{appTargets: appTargets{configFlags: f}, print: newPrintFlags(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "history APP",
		Short: "List the recorded revisions of an app",
		Example: `  kubectl zz history shop
  kubectl zz history shop -o yaml
  # both clusters in one table
  kubectl zz history shop --context prod-a,prod-b`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeApps(f),
		RunE:              runOptions(o),
	}
	o.print.addFlags(cmd)
	return cmd
}

// Complete takes the app name and connects to its clusters.
func (o *HistoryOptions) Complete(args []string) error { return o.complete(args) }

// Validate checks the flags; no I/O.
func (o *HistoryOptions) Validate() error { return o.print.validate() }

// historyItem is one revision in one cluster, as -o json prints it.
type historyItem struct {
	Cluster string `json:"cluster,omitempty"`
	*deploy.Revision
}

// Run prints the revisions, oldest first, per cluster.
func (o *HistoryOptions) Run(cmd *cobra.Command) error {
	tbl := newTable("REVISION", "VERSION", "IMAGE", "DEPLOYED", "BY", "CHANGE-CAUSE")
	var items []*unstructured.Unstructured
	for _, t := range o.targets {
		revs, err := deploy.History(cmd.Context(), t.client, t.namespace, o.App)
		if err != nil {
			return contextErr(t.context, err)
		}
		if len(revs) == 0 && o.print.table() {
			return contextErr(t.context, fmt.Errorf("%s has no recorded revisions in namespace %s; deploy it with kubectl zz deploy", o.App, t.namespace))
		}
		for _, r := range revs {
			tbl.add(t.name, strconv.FormatInt(r.Number, 10), r.Version, r.Image, r.Time.Local().Format(time.DateTime), r.User, r.ChangeCause)
			it := historyItem{Revision: r}
			if o.several() {
				it.Cluster = t.name
			}
			u, err := printable(contract.OutputKindRevision, deploy.RecordName(r.App, r.Number), it)
			if err != nil {
				return err
			}
			items = append(items, u)
		}
	}
	if o.print.table() {
		return tbl.print(o.Out, o.several())
	}
	return o.print.printItems(o.Out, items)
}
