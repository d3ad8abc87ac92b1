package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/deploy"
)

// DeleteOptions is kubectl zz delete.
type DeleteOptions struct {
	appTargets
	// Apps are the apps named, in the order given (App is the first):
	// kubectl delete takes several names, and a teardown script lists them.
	Apps        []string
	DeleteData  bool
	DryRun      bool
	Yes         bool
	KeepHistory bool
	// IgnoreNotFound: an app that is not there is no failure (kubectl
	// delete's and helm uninstall's flag), so a teardown can run twice.
	IgnoreNotFound bool

	// terminal reports whether In is a terminal a person can answer on.
	terminal func() bool
	genericiooptions.IOStreams
}

// stdinIsTerminal reports whether stdin is a terminal to ask on; tests
// pretend it is.
var stdinIsTerminal = isTerminal

// NewCmdDelete returns "kubectl zz delete APP".
func NewCmdDelete(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DeleteOptions{appTargets: appTargets{configFlags: f}, IOStreams: streams,
		terminal: func() bool { return stdinIsTerminal(streams.In) }}
	cmd := &cobra.Command{
		Use:   "delete APP [APP...]",
		Short: "Remove apps: every object kubectl zz made for them and their revision history",
		Long: `Remove every object kubectl zz deployed for an app (Deployments, the canary's too,
Service, ConfigMaps, Ingress, HPA, PDB) and its revision records, so nothing is left
behind. Volume claims are kept, with the data on them, unless --delete-data.
With --keep-history the revision records stay (as helm uninstall --keep-history):
status shows the app as Missing and kubectl zz rollback APP brings it back.
On a terminal it lists what goes and asks first; --yes skips the question, and
without a terminal (scripts, CI) --yes is required. Several apps are deleted as
kubectl delete a b deletes: each found is deleted, and each that is not (or is
locked by another command) is an error after them, exit 1; an app missing or
locked in one --context is deleted in none.`,
		Example: `  kubectl zz delete shop --dry-run         # what would go
  kubectl zz delete shop                   # asks first
  kubectl zz delete shop --yes --delete-data
  kubectl zz delete shop cart --yes
  # objects gone, history kept: rollback brings the app back as it was
  kubectl zz delete shop --keep-history && kubectl zz rollback shop`,
		Args:              someApps,
		ValidArgsFunction: completeSeveralApps(f),
		RunE:              runOptions(o),
	}
	cmd.Flags().BoolVar(&o.DeleteData, "delete-data", false, "Delete the app's PersistentVolumeClaims too (their data is lost)")
	addDryRun(cmd.Flags(), &o.DryRun, "List what would be deleted and delete nothing", "it lists what the delete would remove, with no call that changes anything")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&o.KeepHistory, "keep-history", false, "Keep the revision records, so that kubectl zz rollback APP brings the app back")
	cmd.Flags().BoolVar(&o.IgnoreNotFound, "ignore-not-found", false, "An app that is not there is no failure (exit 0, a note on stderr), as kubectl delete --ignore-not-found")
	return cmd
}

// Complete takes the app names and connects to their clusters.
func (o *DeleteOptions) Complete(args []string) error {
	var err error
	if o.Apps, err = severalApps(args); err != nil {
		return err
	}
	return o.complete(o.Apps[:1], o.ErrOut)
}

// Validate checks the flags; it reads no cluster.
func (o *DeleteOptions) Validate() error {
	// With --ignore-not-found, Run says it once it knows there is
	// something to delete: an app already gone needs no answer.
	if !o.IgnoreNotFound && o.unconfirmed() {
		return o.unconfirmedErr()
	}
	return nil
}

// unconfirmed says no one can answer the question and --yes was not given.
func (o *DeleteOptions) unconfirmed() bool { return !o.DryRun && !o.Yes && !o.terminal() }

func (o *DeleteOptions) unconfirmedErr() error {
	return fmt.Errorf("refusing to delete %s without confirmation: stdin is not a terminal; add --yes (or --dry-run to see what would go)", strings.Join(o.Apps, ", "))
}

// Run lists what goes in every cluster, asks (on a terminal, without --yes),
// then deletes. An app that cannot be planned in one of the clusters (not
// found, locked, forbidden) is deleted in none, and one whose delete fails
// is named; either is an error after the others are done, as kubectl
// delete a b goes on past a missing or failing b.
func (o *DeleteOptions) Run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	var plans []deletePlan
	var errs []error
	var apps []string // those planned, for the question
	for _, app := range o.Apps {
		p, err := o.plan(ctx, app)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(p) > 0 {
			plans = append(plans, p...)
			apps = append(apps, app)
		}
	}
	if len(plans) > 0 && o.unconfirmed() {
		return o.unconfirmedErr()
	}
	out := o.Out
	if !o.DryRun {
		out = o.ErrOut // the list is the question's context; stdout says what was done
	}
	verb := "would delete"
	if o.Yes && !o.DryRun {
		verb = "deleting" // no question follows: the list is what is being done
	}
	for _, p := range plans {
		fmt.Fprintf(out, "%s in %s: %s %s\n", p.app, where(p.t), verb, strings.Join(p.res.Deleted, ", "))
		if len(p.res.Kept) > 0 {
			fmt.Fprintf(out, "  and keep %s (add --delete-data to delete it)\n", strings.Join(p.res.Kept, ", "))
		}
		if n := len(p.res.KeptRevisions); n > 0 {
			fmt.Fprintf(out, "  and keep its history, revisions %s (kubectl zz rollback %s brings revision %d back)\n",
				revisionRange(p.res.KeptRevisions), p.app, p.res.KeptRevisions[n-1])
		}
		if len(p.res.NotOurs) > 0 {
			fmt.Fprintf(out, "  and leave %s: they carry the app's labels, but kubectl zz did not write them\n", strings.Join(p.res.NotOurs, ", "))
		}
	}
	if o.DryRun || len(plans) == 0 {
		return errors.Join(errs...) // nothing to ask about: --ignore-not-found found no app
	}
	if !o.Yes {
		if len(errs) > 0 {
			// Said before the question, so the answer is given knowing
			// which apps are not in it.
			for _, err := range errs {
				fmt.Fprintf(o.ErrOut, "not deleted: %v\n", err)
			}
		}
		fmt.Fprintf(o.ErrOut, "Delete %s? [y/N]: ", strings.Join(apps, ", "))
		line, _ := bufio.NewReader(o.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("not confirmed; nothing deleted")
		}
	}
	for _, p := range plans {
		res, err := deploy.Delete(ctx, p.t.client, &deploy.DeleteConfig{Namespace: p.t.namespace, App: p.app, DeleteData: o.DeleteData, KeepHistory: o.KeepHistory, Progress: o.ErrOut})
		if err != nil {
			// The other apps go on, as kubectl delete a b does past a
			// failure of a; the error names this app and cluster.
			errs = append(errs, fmt.Errorf("%s: %w", p.app, contextErr(p.t.context, err)))
			continue
		}
		msg := fmt.Sprintf("%s deleted from %s (%s)", p.app, where(p.t), deletedCount(res))
		if len(res.Kept) > 0 {
			msg += "; kept " + strings.Join(res.Kept, ", ")
		}
		if n := len(res.KeptRevisions); n > 0 {
			msg += fmt.Sprintf("; kept revisions %s (kubectl zz rollback %s brings revision %d back)", revisionRange(res.KeptRevisions), p.app, res.KeptRevisions[n-1])
		}
		fmt.Fprintln(o.Out, msg)
	}
	return errors.Join(errs...)
}

// deletePlan is what a delete removes of one app in one cluster.
type deletePlan struct {
	app string
	t   target
	res *deploy.DeleteResult
}

// plan is what deleting app removes in every cluster (a dry run of each),
// or the error of the first cluster where it cannot be planned: an app is
// deleted everywhere or nowhere. Nothing, with no error, when the app is
// gone everywhere and --ignore-not-found says so.
func (o *DeleteOptions) plan(ctx context.Context, app string) ([]deletePlan, error) {
	var plans []deletePlan
	var errs []error
	for _, t := range o.targets {
		if !o.DryRun {
			// Before the plan and its question: a delete the lock would
			// refuse printed "deleting ..." first (a concurrency re-run).
			if err := deploy.Locked(ctx, t.client, t.namespace, app); err != nil {
				errs = append(errs, contextErr(t.context, err))
				continue
			}
		}
		res, err := deploy.Delete(ctx, t.client, &deploy.DeleteConfig{Namespace: t.namespace, App: app, DeleteData: o.DeleteData, KeepHistory: o.KeepHistory, DryRun: true})
		if o.IgnoreNotFound && errors.Is(err, deploy.ErrNoRevision) {
			fmt.Fprintf(o.ErrOut, "%s: nothing to delete in %s (--ignore-not-found)\n", app, where(t))
			continue
		}
		if err != nil {
			errs = append(errs, contextErr(t.context, err))
			continue
		}
		plans = append(plans, deletePlan{app, t, res})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return plans, nil
}

// revisionRange is sorted revision numbers as "3" or "3 to 7" (records are
// kept as a run: history trims the oldest).
func revisionRange(revs []int64) string {
	if len(revs) == 1 {
		return strconv.FormatInt(revs[0], 10)
	}
	return fmt.Sprintf("%d to %d", revs[0], revs[len(revs)-1])
}

// deletedCount says how many objects and revision records went.
func deletedCount(res *deploy.DeleteResult) string {
	objects := count(len(res.Deleted)-res.Records, "object")
	if res.Records == 0 {
		return objects
	}
	return objects + " and " + count(res.Records, "revision record")
}

// count is "1 object" or "3 objects": n and the noun, plural with an s.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
