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

// ChangeOptions is kubectl zz scale and kubectl zz restart: a change to the
// running revision, recorded as the next one.
type ChangeOptions struct {
	appTargets
	Replicas int32
	rolloutFlags

	scale       bool
	replicasSet bool
	// diff: show what the change would do (a server-side dry run), as
	// deploy --diff and rollback --diff; --dry-run says the same.
	diff diffRun
	genericiooptions.IOStreams
}

// addDiffFlags gives scale and restart --diff, and --dry-run as kubectl's
// scale and rollout restart have it, which shows the same.
func (o *ChangeOptions) addDiffFlags(cmd *cobra.Command) {
	o.diff.add(cmd, "Show what the change would do (a server-side dry run, as deploy --diff) and change nothing; exit 1 when something would change",
		`The same as --diff ("server" or "client": both dry-run the change on the server and show it)`)
}

// NewCmdScale returns "kubectl zz scale APP --replicas N".
func NewCmdScale(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ChangeOptions{appTargets: appTargets{configFlags: f}, scale: true, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "scale APP --replicas N",
		Short: "Set how many pods an app runs, recorded as a revision",
		Long: `Set the replicas of an app's Deployment and wait until the pods are ready, with the
progress and failure reasons of deploy. The change is recorded as a revision (change
cause "scale to N"), so history shows it and a rollback to an earlier revision
restores that revision's replicas instead of undoing the scale unseen. Refused when
the app has a HorizontalPodAutoscaler (hpa in its spec): that sets the replicas.`,
		Example: `  kubectl zz scale shop --replicas 5
  kubectl zz scale shop --replicas 0          # stop every pod, keep the app
  kubectl zz scale shop --replicas 3 --context prod-a,prod-b`,
		Args:              oneApp,
		ValidArgsFunction: completeApps(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.replicasSet = cmd.Flags().Changed("replicas")
			return runOptions(o)(cmd, args)
		},
	}
	cmd.Flags().Int32Var(&o.Replicas, "replicas", 0, "Pods to run (required)")
	o.addDiffFlags(cmd)
	o.addFlags(cmd.Flags())
	o.addWaitFlag(cmd.Flags())
	o.addOutputFlag(cmd)
	return cmd
}

// NewCmdRestart returns "kubectl zz restart APP".
func NewCmdRestart(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ChangeOptions{appTargets: appTargets{configFlags: f}, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "restart APP",
		Short: "Replace every pod of an app, a few at a time, recorded as a revision",
		Long: `Restart an app's pods as a rolling update (as kubectl rollout restart does: new
pods come up and become ready before old ones go, so the app keeps serving) and wait
with the progress and failure reasons of deploy. Recorded as a revision with change
cause "restart".`,
		Example: `  kubectl zz restart shop
  kubectl zz restart shop --context prod-a,prod-b`,
		Args:              oneApp,
		ValidArgsFunction: completeApps(f),
		RunE:              runOptions(o),
	}
	o.addDiffFlags(cmd)
	o.addFlags(cmd.Flags())
	o.addWaitFlag(cmd.Flags())
	o.addOutputFlag(cmd)
	return cmd
}

// Complete takes the app name and connects to its clusters.
func (o *ChangeOptions) Complete(args []string) error { return o.complete(args, o.ErrOut) }

// Validate checks the flags; no I/O.
func (o *ChangeOptions) Validate() error {
	switch {
	case o.scale && !o.replicasSet:
		return fmt.Errorf("--replicas is required: kubectl zz scale %s --replicas N", o.App)
	case o.Replicas < 0:
		return fmt.Errorf("--replicas must be 0 or more, got %d", o.Replicas)
	case o.diff.on() && o.result.format != "":
		// As deploy and rollback: a script's -o json got a diff (a kubectl audit).
		return errors.New("--diff (and --dry-run, which is it here) prints a diff: drop --output")
	}
	return o.validate()
}

// Run scales or restarts in every cluster at once and waits.
func (o *ChangeOptions) Run(cmd *cobra.Command) error {
	if o.diff.on() {
		return diffTargets(cmd.Context(), o.targets, o.IOStreams, o.App, func(t target, out io.Writer) (bool, error) {
			cfg := &deploy.ChangeConfig{App: o.App, Options: deploy.Options{Namespace: t.namespace},
				DiffOut: out, ExternalDiff: os.Getenv("KUBECTL_EXTERNAL_DIFF")}
			var res *deploy.Result
			var err error
			if o.scale {
				res, err = deploy.Scale(cmd.Context(), t.client, cfg, o.Replicas)
			} else {
				res, err = deploy.Restart(cmd.Context(), t.client, cfg)
			}
			if err != nil {
				return false, err
			}
			return res.Differs, nil
		})
	}
	err := forEach(cmd.Context(), o.targets, o.ErrOut, func(t target, progress io.Writer, live bool) error {
		cfg := &deploy.ChangeConfig{App: o.App, Options: o.options(t, progress, live)}
		var res *deploy.Result
		var err error
		what := "restarted"
		if o.scale {
			res, err = deploy.Scale(cmd.Context(), t.client, cfg, o.Replicas)
			what = fmt.Sprintf("scaled to %d", o.Replicas)
		} else {
			res, err = deploy.Restart(cmd.Context(), t.client, cfg)
		}
		if err != nil {
			return err
		}
		if res.NoPods {
			return o.result.unchanged(cmd.Context(), o.Out, progress, t, o.several(), o.App,
				fmt.Sprintf("%s unchanged: it runs 0 replicas in %s, no pod to restart (nothing applied or recorded; kubectl zz scale %s --replicas N starts new ones)", o.App, where(t), o.App))
		}
		if res.Unchanged {
			return o.result.unchanged(cmd.Context(), o.Out, progress, t, o.several(), o.App,
				fmt.Sprintf("%s unchanged: revision %d runs %d replicas already in %s (nothing applied or recorded)", o.App, res.Revision, o.Replicas, where(t)))
		}
		gate := ""
		if !o.scale {
			// Restarting again would replace the pods again; restoring
			// the revision the restart recorded follows its rollout.
			gate = fmt.Sprintf("kubectl zz rollback %s --to-revision %d", o.App, res.Revision)
		}
		return o.result.done(cmd.Context(), o.Out, t, o.several(), o.App, o.waited(fmt.Sprintf("%s %s, recorded as revision %d in %s", o.App, what, res.Revision, where(t)), o.App, gate, t))
	})
	return o.result.flush(o.Out, o.targets, err)
}
