package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/deploy"
)

// DiffOptions is kubectl zz diff.
type DiffOptions struct {
	appTargets
	Revision, To int64
	genericiooptions.IOStreams
}

// NewCmdDiff returns "kubectl zz diff APP --revision N [--to M]".
func NewCmdDiff(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DiffOptions{appTargets: appTargets{configFlags: f}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "diff APP --revision N [--to M]",
		Short: "Show what changed between two recorded revisions of an app",
		Long: `Show, as a unified diff of each object, what changed from revision N to revision M
(default: the latest) of an app, leaving out the revision label as deploy --diff does.
Like diff and kubectl diff it exits 0 when the revisions are the same, 1 when they
differ, and more on errors.`,
		Example: `  kubectl zz diff shop --revision 3           # revision 3 against the latest
  kubectl zz diff shop --revision 3 --to 5`,
		Args:              oneApp,
		ValidArgsFunction: completeApps(f),
		RunE:              runOptions(o),
	}
	cmd.Flags().Int64Var(&o.Revision, "revision", 0, "Revision to diff from (required)")
	cmd.Flags().Int64Var(&o.To, "to", 0, "Revision to diff to (default: the latest)")
	return cmd
}

// Complete takes the app name and connects to its clusters.
func (o *DiffOptions) Complete(args []string) error { return o.complete(args) }

// Validate checks the flags; no I/O.
func (o *DiffOptions) Validate() error {
	switch {
	case o.Revision <= 0:
		return fmt.Errorf("--revision is required and positive: kubectl zz diff %s --revision N (kubectl zz history %s lists them)", o.App, o.App)
	case o.To < 0:
		return fmt.Errorf("--to must be positive, got %d", o.To)
	}
	return nil
}

// errDifferent is what diff returns when the revisions differ, for exit
// status 1; it is not printed (the diff says it).
var errDifferent = errors.New("the revisions differ")

// Run writes the diff per cluster.
func (o *DiffOptions) Run(cmd *cobra.Command) error {
	changed := false
	for _, t := range o.targets {
		if o.several() {
			fmt.Fprintf(o.Out, "# context %s, namespace %s\n", t.name, t.namespace)
		}
		c, err := deploy.DiffRevisions(cmd.Context(), t.client, t.namespace, o.App, o.Revision, o.To, o.Out)
		if err != nil {
			return contextErr(t.context, err)
		}
		changed = changed || c
	}
	if changed {
		cmd.SilenceErrors = true
		return errDifferent
	}
	return nil
}
