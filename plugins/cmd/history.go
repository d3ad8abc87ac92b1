package cmd

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/deploy"
)

// HistoryOptions is kubectl zz history.
type HistoryOptions struct {
	appTarget
	Output string
	genericiooptions.IOStreams
}

// NewCmdHistory returns "kubectl zz history APP".
func NewCmdHistory(f genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	o := &HistoryOptions{appTarget: appTarget{configFlags: f}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:               "history APP",
		Short:             "List the recorded revisions of an app",
		Example:           "  kubectl zz history shop\n  kubectl zz history shop -o yaml",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeApps(f),
		RunE:              runOptions(o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "One of 'yaml' or 'json'; a table when empty")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Complete takes the app name, namespace and client.
func (o *HistoryOptions) Complete(args []string) error { return o.complete(args) }

// Validate checks the flags; no I/O.
func (o *HistoryOptions) Validate() error {
	switch o.Output {
	case "", "json", "yaml":
		return nil
	}
	return fmt.Errorf("--output must be 'json' or 'yaml', got %q", o.Output)
}

// Run prints the revisions, oldest first.
func (o *HistoryOptions) Run(cmd *cobra.Command) error {
	revs, err := deploy.History(cmd.Context(), o.client, o.namespace, o.App)
	if err != nil {
		return err
	}
	if len(revs) == 0 && o.Output == "" {
		return fmt.Errorf("%s has no recorded revisions in namespace %s", o.App, o.namespace)
	}
	return printHistory(revs, o.Output, o.IOStreams)
}

func printHistory(revs []*deploy.Revision, output string, streams genericiooptions.IOStreams) error {
	if revs == nil {
		revs = []*deploy.Revision{} // "[]", not "null"
	}
	switch output {
	case "json":
		b, err := json.MarshalIndent(revs, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(streams.Out, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(revs)
		if err != nil {
			return err
		}
		_, err = streams.Out.Write(b)
		return err
	}
	w := printers.GetNewTabWriter(streams.Out)
	fmt.Fprintln(w, "REVISION\tVERSION\tIMAGE\tDEPLOYED\tBY\tCHANGE-CAUSE")
	for _, r := range revs {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Number, r.Version, r.Image, r.Time.Local().Format(time.DateTime), r.User, r.ChangeCause)
	}
	return w.Flush()
}
