package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/deploy"
)

// CanaryOptions is kubectl zz promote and kubectl zz abort.
type CanaryOptions struct {
	appTargets
	rolloutFlags
	genericiooptions.IOStreams

	verb string // "promoted" or "aborted"
	run  func(context.Context, kubernetes.Interface, *deploy.CanaryActionConfig) (*deploy.Result, error)
	// diff: show what the promote or abort would change (a server-side
	// dry run), as the other commands' --diff; --dry-run says the same.
	diff diffRun
}

// canaryWaits ends promote's and abort's help: why they have no --wait.
const canaryWaits = `

It always waits for the rollout: there is no --wait=false, as deploy, scale,
restart and rollback have, because what it removes, the canary, must keep
serving until the stable Deployment's pods are ready (with --wait=false the
app could be left with no ready pod). --diff (or --dry-run) shows what it
would change and changes nothing.`

// NewCmdPromote returns "kubectl zz promote APP".
func NewCmdPromote(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdCanary(f, streams, "promote", "promoted", deploy.Promote,
		"Roll the stable version of an app to its canary's, then remove the canary",
		`Roll the stable Deployment, and every other object of the app, to what the
canary was deployed with (kubectl zz deploy --canary), wait until it is ready,
then remove the canary. Recorded as a revision ("promote canary of revision N").
If the stable rollout fails, the canary revision is re-applied.`+canaryWaits)
}

// NewCmdAbort returns "kubectl zz abort APP".
func NewCmdAbort(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdCanary(f, streams, "abort", "aborted", deploy.Abort,
		"Remove the canary of an app and keep its stable version",
		`Remove the canary Deployment (and its config) that kubectl zz deploy --canary
started; the stable version keeps serving. Recorded as a revision ("abort canary
of revision N").`+canaryWaits)
}

func newCmdCanary(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, use, verb string,
	run func(context.Context, kubernetes.Interface, *deploy.CanaryActionConfig) (*deploy.Result, error), short, long string) *cobra.Command {
	o := &CanaryOptions{appTargets: appTargets{configFlags: f}, IOStreams: streams, verb: verb, run: run}
	cmd := &cobra.Command{
		Use:               use + " APP",
		Short:             short,
		Long:              long,
		Example:           fmt.Sprintf("  kubectl zz %s shop\n  kubectl zz %s shop --diff              # what it would change, changing nothing\n  kubectl zz %s shop --context prod-a,prod-b", use, use, use),
		Args:              oneApp,
		ValidArgsFunction: completeCanaries(f),
		RunE:              runOptions(o),
	}
	o.diff.add(cmd, fmt.Sprintf("Show what the %s would change (a server-side dry run, as deploy --diff) and change nothing; exit 1 when something would change", use),
		`The same as --diff ("server" or "client": both dry-run it on the server and show it)`)
	o.addFlags(cmd.Flags())
	o.addOutputFlag(cmd)
	return cmd
}

// Complete takes the app name and connects to its clusters.
func (o *CanaryOptions) Complete(args []string) error { return o.complete(args, o.ErrOut) }

// Validate checks the flags; no I/O.
func (o *CanaryOptions) Validate() error {
	if o.diff.on() && o.result.format != "" {
		return errors.New("--diff (and --dry-run, which is it here) prints a diff: drop --output")
	}
	return o.validate()
}

// Run promotes or aborts and waits, in every cluster at once.
func (o *CanaryOptions) Run(cmd *cobra.Command) error {
	if o.diff.on() {
		return diffTargets(cmd.Context(), o.targets, o.IOStreams, o.App, func(t target, out io.Writer) (bool, error) {
			return deploy.CanaryDiff(cmd.Context(), t.client, t.namespace, o.App, o.verb == "promoted", os.Getenv("KUBECTL_EXTERNAL_DIFF"), out)
		})
	}
	err := forEach(cmd.Context(), o.targets, o.ErrOut, func(t target, progress io.Writer, live bool) error {
		res, err := o.run(cmd.Context(), t.client, &deploy.CanaryActionConfig{
			Options: o.options(t, progress, live),
			App:     o.App,
		})
		if err != nil {
			return err
		}
		if res.Unchanged {
			return o.result.done(cmd.Context(), o.Out, t, o.several(), o.App, fmt.Sprintf("canary of %s %s: no revision recorded it, so none is recorded; revision %d runs in %s", o.App, o.verb, res.Revision, where(t)))
		}
		return o.result.done(cmd.Context(), o.Out, t, o.several(), o.App, fmt.Sprintf("canary of %s %s, recorded as revision %d in %s", o.App, o.verb, res.Revision, where(t)))
	})
	return o.result.flush(o.Out, o.targets, err)
}
