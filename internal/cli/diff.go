package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/deploy"
)

// DiffOptions is kubectl zz diff.
type DiffOptions struct {
	appTargets
	Revision, To int64
	// Spec compares the app specs the revisions were deployed from.
	Spec bool
	genericiooptions.IOStreams
}

// NewCmdDiff returns "kubectl zz diff APP [--revision N] [--to M]".
func NewCmdDiff(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DiffOptions{appTargets: appTargets{configFlags: f}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "diff APP [--revision N] [--to M]",
		Short: "Show what changed between two recorded revisions of an app",
		Long: `Show, as a unified diff of each object, what changed from revision N (default: the
one before M) to revision M (default: the latest) of an app, leaving out the revision label
as deploy --diff does.
With --spec it compares the app specs the two revisions were deployed from instead
(kubectl zz history APP --spec prints one). Like diff and kubectl diff it exits 0 when
the revisions are the same, 1 when they differ, and 2 on errors. KUBECTL_EXTERNAL_DIFF
names another diff program, as for kubectl diff and the --diff of deploy, scale,
restart, rollback, promote and abort: it gets two folders, LIVE with revision N's
objects (or spec) and MERGED with revision M's.`,
		Example: `  kubectl zz diff shop                        # what the latest revision changed
  kubectl zz diff shop --revision 3           # revision 3 against the latest
  kubectl zz diff shop --revision 3 --to 5
  kubectl zz diff shop --revision 3 --spec    # what the spec changed, in the spec's words`,
		Args:              oneApp,
		ValidArgsFunction: completeApps(f),
		RunE:              runOptions(o),
	}
	cmd.Flags().Int64Var(&o.Revision, "revision", 0, "Revision to diff from (default: the one before --to)")
	cmd.Flags().Int64Var(&o.To, "to", 0, "Revision to diff to (default: the latest)")
	_ = cmd.RegisterFlagCompletionFunc("revision", completeRevisions(f))
	_ = cmd.RegisterFlagCompletionFunc("to", completeRevisions(f))
	cmd.Flags().BoolVar(&o.Spec, "spec", false, "Compare the app specs the revisions were deployed from, not their objects")
	return cmd
}

// Complete takes the app name and connects to its clusters.
func (o *DiffOptions) Complete(args []string) error { return o.complete(args, o.ErrOut) }

// Validate checks the flags; no I/O.
func (o *DiffOptions) Validate() error {
	switch {
	case o.Revision < 0:
		return fmt.Errorf("--revision must be positive, got %d (kubectl zz history %s lists them)", o.Revision, o.App)
	case o.To < 0:
		return fmt.Errorf("--to must be positive, got %d", o.To)
	}
	return nil
}

// Run writes the diff per cluster; as kubectl diff, it exits 1 when the
// revisions differ and 2 on trouble.
func (o *DiffOptions) Run(cmd *cobra.Command) error {
	diff := deploy.DiffRevisions
	if o.Spec {
		diff = deploy.DiffSpecs
	}
	return diffTargets(cmd.Context(), o.targets, o.IOStreams, o.App, func(t target, out io.Writer) (bool, error) {
		from := o.Revision
		if from == 0 {
			// As helm diff revision's habit: what the last change did.
			var err error
			if from, err = previousRevision(cmd.Context(), t, o.App, o.To); err != nil {
				return false, err
			}
		}
		return diff(cmd.Context(), t.client, t.namespace, o.App, from, o.To, os.Getenv("KUBECTL_EXTERNAL_DIFF"), out)
	})
}

// previousRevision is the recorded revision before to (0: the latest) of
// app, the default --revision.
func previousRevision(ctx context.Context, t target, app string, to int64) (int64, error) {
	revs, err := deploy.Revisions(ctx, t.client, t.namespace, app) // newest first
	if err != nil {
		return 0, err
	}
	if len(revs) == 0 {
		return 0, deploy.NotFound("%s has no recorded revisions in namespace %s; deploy it with kubectl zz deploy first", app, t.namespace)
	}
	if to == 0 {
		to = revs[0].Number
	}
	for _, r := range revs {
		if r.Number < to {
			return r.Number, nil
		}
	}
	return 0, fmt.Errorf("%s has no revision recorded before %d in namespace %s: nothing to diff it with (kubectl zz history %s lists them)", app, to, t.namespace, app)
}
