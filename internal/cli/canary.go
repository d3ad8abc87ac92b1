package cli

import (
	"context"
	"fmt"
	"io"

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
}

// NewCmdPromote returns "kubectl zz promote APP".
func NewCmdPromote(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdCanary(f, streams, "promote", "promoted", deploy.Promote,
		"Roll the stable version of an app to its canary's, then remove the canary",
		`Roll the stable Deployment, and every other object of the app, to what the
canary was deployed with (kubectl zz deploy --canary), wait until it is ready,
then remove the canary. Recorded as a revision ("promote canary of revision N").
If the stable rollout fails, the canary revision is re-applied.`)
}

// NewCmdAbort returns "kubectl zz abort APP".
func NewCmdAbort(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdCanary(f, streams, "abort", "aborted", deploy.Abort,
		"Remove the canary of an app and keep its stable version",
		`Remove the canary Deployment (and its config) that kubectl zz deploy --canary
started; the stable version keeps serving. Recorded as a revision ("abort canary
of revision N").`)
}

func newCmdCanary(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, use, verb string,
	run func(context.Context, kubernetes.Interface, *deploy.CanaryActionConfig) (*deploy.Result, error), short, long string) *cobra.Command {
	o := &CanaryOptions{appTargets: appTargets{configFlags: f}, IOStreams: streams, verb: verb, run: run}
	cmd := &cobra.Command{
		Use:               use + " APP",
		Short:             short,
		Long:              long,
		Example:           fmt.Sprintf("  kubectl zz %s shop\n  kubectl zz %s shop --context prod-a,prod-b", use, use),
		Args:              oneApp,
		ValidArgsFunction: completeCanaries(f),
		RunE:              runOptions(o),
	}
	o.addFlags(cmd.Flags())
	o.addOutputFlag(cmd)
	return cmd
}

// Complete takes the app name and connects to its clusters.
func (o *CanaryOptions) Complete(args []string) error { return o.complete(args) }

// Validate checks the flags; no I/O.
func (o *CanaryOptions) Validate() error {
	return o.validate()
}

// Run promotes or aborts and waits, in every cluster at once.
func (o *CanaryOptions) Run(cmd *cobra.Command) error {
	err := forEach(o.targets, o.ErrOut, func(t target, progress io.Writer, live bool) error {
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
