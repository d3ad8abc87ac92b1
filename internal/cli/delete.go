package cli

import (
	"bufio"
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
		Use:   "delete APP",
		Short: "Remove an app: every object kubectl zz made for it and its revision history",
		Long: `Remove every object kubectl zz deployed for an app (Deployments, the canary's too,
Service, ConfigMaps, Ingress, HPA, PDB) and its revision records, so nothing is left
behind. Volume claims are kept, with the data on them, unless --delete-data.
With --keep-history the revision records stay (as helm uninstall --keep-history):
status shows the app as Missing and kubectl zz rollback APP brings it back.
On a terminal it lists what goes and asks first; --yes skips the question, and
without a terminal (scripts, CI) --yes is required.`,
		Example: `  kubectl zz delete shop --dry-run         # what would go
  kubectl zz delete shop                   # asks first
  kubectl zz delete shop --yes --delete-data
  # objects gone, history kept: rollback brings the app back as it was
  kubectl zz delete shop --keep-history && kubectl zz rollback shop`,
		Args:              oneApp,
		ValidArgsFunction: completeApps(f),
		RunE:              runOptions(o),
	}
	cmd.Flags().BoolVar(&o.DeleteData, "delete-data", false, "Delete the app's PersistentVolumeClaims too (their data is lost)")
	addDryRun(cmd.Flags(), &o.DryRun, "List what would be deleted and delete nothing", "it lists what the delete would remove, with no call that changes anything")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	cmd.Flags().BoolVar(&o.KeepHistory, "keep-history", false, "Keep the revision records, so that kubectl zz rollback APP brings the app back")
	cmd.Flags().BoolVar(&o.IgnoreNotFound, "ignore-not-found", false, "An app that is not there is no failure (exit 0, a note on stderr), as kubectl delete --ignore-not-found")
	return cmd
}

// Complete takes the app name and connects to its clusters.
func (o *DeleteOptions) Complete(args []string) error { return o.complete(args) }

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
	return fmt.Errorf("refusing to delete %s without confirmation: stdin is not a terminal; add --yes (or --dry-run to see what would go)", o.App)
}

// Run lists what goes in every cluster, asks (on a terminal, without --yes),
// then deletes.
func (o *DeleteOptions) Run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	type plan struct {
		t   target
		res *deploy.DeleteResult
	}
	var plans []plan
	var errs []error
	for _, t := range o.targets {
		if !o.DryRun {
			// Before the plan and its question: a delete the lock would
			// refuse printed "deleting ..." first (a concurrency re-run).
			if err := deploy.Locked(ctx, t.client, t.namespace, o.App); err != nil {
				errs = append(errs, contextErr(t.context, err))
				continue
			}
		}
		res, err := deploy.Delete(ctx, t.client, &deploy.DeleteConfig{Namespace: t.namespace, App: o.App, DeleteData: o.DeleteData, KeepHistory: o.KeepHistory, DryRun: true})
		if o.IgnoreNotFound && errors.Is(err, deploy.ErrNoRevision) {
			fmt.Fprintf(o.ErrOut, "%s: nothing to delete in %s (--ignore-not-found)\n", o.App, where(t))
			continue
		}
		if err != nil {
			errs = append(errs, contextErr(t.context, err))
			continue
		}
		plans = append(plans, plan{t, res})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
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
		fmt.Fprintf(out, "%s in %s: %s %s\n", o.App, where(p.t), verb, strings.Join(p.res.Deleted, ", "))
		if len(p.res.Kept) > 0 {
			fmt.Fprintf(out, "  and keep %s (add --delete-data to delete it)\n", strings.Join(p.res.Kept, ", "))
		}
		if n := len(p.res.KeptRevisions); n > 0 {
			fmt.Fprintf(out, "  and keep its history, revisions %s (kubectl zz rollback %s brings revision %d back)\n",
				revisionRange(p.res.KeptRevisions), o.App, p.res.KeptRevisions[n-1])
		}
		if len(p.res.NotOurs) > 0 {
			fmt.Fprintf(out, "  and leave %s: they carry the app's labels, but kubectl zz did not write them\n", strings.Join(p.res.NotOurs, ", "))
		}
	}
	if o.DryRun || len(plans) == 0 {
		return nil // nothing to ask about: --ignore-not-found found no app
	}
	if !o.Yes {
		fmt.Fprintf(o.ErrOut, "Delete %s? [y/N]: ", o.App)
		line, _ := bufio.NewReader(o.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("not confirmed; nothing deleted")
		}
	}
	for _, p := range plans {
		res, err := deploy.Delete(ctx, p.t.client, &deploy.DeleteConfig{Namespace: p.t.namespace, App: o.App, DeleteData: o.DeleteData, KeepHistory: o.KeepHistory, Progress: o.ErrOut})
		if err != nil {
			return contextErr(p.t.context, err)
		}
		msg := fmt.Sprintf("%s deleted from %s (%s)", o.App, where(p.t), deletedCount(res))
		if len(res.Kept) > 0 {
			msg += "; kept " + strings.Join(res.Kept, ", ")
		}
		if n := len(res.KeptRevisions); n > 0 {
			msg += fmt.Sprintf("; kept revisions %s (kubectl zz rollback %s brings revision %d back)", revisionRange(res.KeptRevisions), o.App, res.KeptRevisions[n-1])
		}
		fmt.Fprintln(o.Out, msg)
	}
	return nil
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
