package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/deploy"
)

// RollbackOptions is kubectl zz rollback.
type RollbackOptions struct {
	appTargets
	ToRevision int64
	Diff       bool
	rolloutFlags
	genericiooptions.IOStreams
}

// NewCmdRollback returns "kubectl zz rollback APP".
func NewCmdRollback(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RollbackOptions{appTargets: appTargets{configFlags: f}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "rollback APP",
		Short: "Restore every object of an earlier revision of an app",
		Long: `Restore every object an earlier deploy wrote (Deployment, Service, ConfigMap,
Ingress, HPA, PDB), delete those that revision did not have (volume claims are
kept), wait for the rollout and record the rollback as a new revision. If the
restored version does not become ready, the running one is re-applied.
With --context a,b every cluster rolls back at once, each to its own previous
revision (or to --to-revision there).`,
		Example: `  kubectl zz rollback shop
  kubectl zz rollback shop --to-revision 3
  # what it would change, changing nothing (exit 1 when it would change something)
  kubectl zz rollback shop --to-revision 3 --diff
  kubectl zz rollback shop --context prod-a,prod-b`,
		Args:              oneApp,
		ValidArgsFunction: completeApps(f),
		RunE:              runOptions(o),
	}
	cmd.Flags().Int64Var(&o.ToRevision, "to-revision", 0, "Revision to restore (default: the one before the latest; the latest when the app's Deployment is gone, as after delete --keep-history, or runs what a failed or stopped deploy applied)")
	_ = cmd.RegisterFlagCompletionFunc("to-revision", completeRevisions(f))
	cmd.Flags().BoolVar(&o.Diff, "diff", false, "Show what the rollback would change (server-side dry run) and change nothing; exit 1 when it would change something")
	o.addFlags(cmd.Flags())
	o.addWaitFlag(cmd.Flags())
	o.addOutputFlag(cmd)
	return cmd
}

// Complete takes the app name and connects to its clusters.
func (o *RollbackOptions) Complete(args []string) error { return o.complete(args, o.ErrOut) }

// Validate checks the flags; no I/O.
func (o *RollbackOptions) Validate() error {
	switch {
	case o.ToRevision < 0:
		return fmt.Errorf("--to-revision must be positive, got %d", o.ToRevision)
	case o.Diff && o.result.format != "":
		return errors.New("--diff prints a diff: drop --output")
	}
	return o.validate()
}

// Run rolls back and waits, in every cluster at once (or, with --diff,
// shows what that would change).
func (o *RollbackOptions) Run(cmd *cobra.Command) error {
	if o.Diff {
		return diffTargets(cmd.Context(), o.targets, o.IOStreams, o.App, func(t target, out io.Writer) (bool, error) {
			return deploy.RollbackDiff(cmd.Context(), t.client, &deploy.RollbackConfig{
				Options: deploy.Options{Namespace: t.namespace, Progress: o.ErrOut}, App: o.App, ToRevision: o.ToRevision,
			}, os.Getenv("KUBECTL_EXTERNAL_DIFF"), out)
		})
	}
	err := forEach(cmd.Context(), o.targets, o.ErrOut, func(t target, progress io.Writer, live bool) error {
		res, err := deploy.Rollback(cmd.Context(), t.client, &deploy.RollbackConfig{
			Options: o.options(t, progress, live),
			App:     o.App, ToRevision: o.ToRevision,
		})
		if err != nil {
			return err
		}
		if res.Unchanged {
			return o.result.unchanged(cmd.Context(), o.Out, progress, t, o.several(), o.App,
				fmt.Sprintf("%s unchanged: revision %d runs that spec already in %s (nothing applied or recorded)", o.App, res.Revision, where(t)))
		}
		return o.result.done(cmd.Context(), o.Out, t, o.several(), o.App, o.waited(fmt.Sprintf("%s rolled back, recorded as revision %d in %s", o.App, res.Revision, where(t)), o.App,
			// The same rollback again would go one revision further back
			// (without --to-revision); the revision it recorded, restored
			// again, follows its rollout.
			fmt.Sprintf("kubectl zz rollback %s --to-revision %d", o.App, res.Revision), t))
	})
	return o.result.flush(o.Out, o.targets, err)
}

// where names a target in messages: its namespace, and its context when one
// was named.
func where(t target) string {
	w := "namespace " + t.namespace
	if t.context != "" {
		w = "context " + t.context + ", " + w
	}
	return w
}
