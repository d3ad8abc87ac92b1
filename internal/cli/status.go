package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/prose"
)

// StatusOptions is kubectl zz status and kubectl zz list.
type StatusOptions struct {
	App string
	// Apps are the apps named when several are (kubectl get a b): the
	// namespace is read and they are kept, in the order given.
	Apps          []string
	Watch         bool
	Interval      time.Duration
	AllNamespaces bool
	// Selector keeps the apps whose Deployment it matches (-l, as kubectl
	// get -l), e.g. zz.io/group=retail.
	Selector string

	// list is kubectl zz list: every app, no per-pod reasons.
	list bool
	// readers are the targets' informers under --watch; nil: list.
	readers []deploy.Reader
	// warned holds the contexts whose unreadable records were said once.
	warned map[string]bool
	// none is what the last read found no app in, said on stderr as
	// kubectl's "No resources found in default namespace.".
	none []string
	// rows is what --watch printed of its table (nil without --watch).
	rows        *watchRows
	targets     []target
	print       *printFlags
	configFlags *genericclioptions.ConfigFlags
	now         func() time.Time
	genericiooptions.IOStreams
}

const statusLong = `Show how apps are doing: per app the latest revision, version, image, ready,
up-to-date and desired pods of the stable Deployment and of a canary next to it
(while a rollout is unfinished, what its ready pods run), how long ago the
last revision was recorded and who recorded it, and, for an app that is not ready,
why each pod is not, in the words deploy uses (Unschedulable with the scheduler's
message, ImagePullBackOff, CrashLoopBackOff with the exit code, a failing readiness
probe, a quota that refuses pods).`

// NewCmdStatus returns "kubectl zz status [APP...]".
func NewCmdStatus(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := newStatusOptions(f, streams, false)
	cmd := &cobra.Command{
		Use:   "status [APP...]",
		Short: "Show how apps are doing, and why pods are not ready",
		Long:  statusLong,
		Example: `  kubectl zz status shop
  # every app of the namespace, refreshed until Ctrl-C
  kubectl zz status --watch
  # two clusters in one table
  kubectl zz status shop --context prod-a,prod-b
  kubectl zz status shop -o jsonpath='{.items[0].health}'
  # the app shop in every namespace that has one
  kubectl zz status shop -A`,
		ValidArgsFunction: completeSeveralApps(f),
		RunE:              runOptions(o),
	}
	o.addFlags(cmd)
	return cmd
}

// NewCmdList returns "kubectl zz list".
func NewCmdList(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := newStatusOptions(f, streams, true)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the apps kubectl zz deployed in the namespace, one line each",
		Example: `  kubectl zz list
  kubectl zz list -A
  kubectl zz list --context prod-a,prod-b -o wide
  kubectl zz list -o name`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("list takes no app name, got %q; kubectl zz status %s shows one app", args[0], args[0])
			}
			return nil
		},
		RunE: runOptions(o),
	}
	o.addFlags(cmd)
	return cmd
}

func newStatusOptions(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams, list bool) *StatusOptions {
	return &StatusOptions{list: list, print: newPrintFlags(), configFlags: f, IOStreams: streams, now: time.Now}
}

func (o *StatusOptions) addFlags(cmd *cobra.Command) {
	o.print.addFlags(cmd)
	o.print.addNoHeaders(cmd)
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "Print the table, then the rows of the apps that change whenever they do (the whole table when an app comes or goes), until Ctrl-C")
	cmd.Flags().DurationVar(&o.Interval, "interval", time.Second, "With --watch, the least time between two reads: the apps' Deployments, pods and records are watched, and read again when one changes (and every 30s)")
	cmd.Flags().StringVarP(&o.Selector, "selector", "l", "", "Only the apps whose Deployment matches this label selector (e.g. zz.io/group=retail, zz.io/version!=1.0)")
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Every namespace (a NAMESPACE column first); needs the right to list Deployments, pods and Secrets cluster-wide, as helm list -A")
}

// Complete takes the app name and connects to every --context.
func (o *StatusOptions) Complete(args []string) error {
	var err error
	if o.Apps, err = severalApps(args); err != nil {
		return err
	}
	if len(o.Apps) == 1 {
		o.App, o.Apps = o.Apps[0], nil
	}
	o.targets, err = resolveTargets(o.configFlags, true, o.ErrOut)
	return err
}

// Validate checks the flags; no I/O.
func (o *StatusOptions) Validate() error {
	if o.Interval <= 0 {
		return fmt.Errorf("--interval must be positive, got %s", o.Interval)
	}
	if o.Selector != "" {
		if named := cmp.Or(o.App, strings.Join(o.Apps, ", ")); named != "" {
			return fmt.Errorf("--selector picks apps; with the apps named (%s), drop it", named)
		}
		if _, err := labels.Parse(o.Selector); err != nil {
			return fmt.Errorf("--selector %q: %w", o.Selector, err)
		}
	}
	return o.print.validate()
}

// Run prints the status once or, with --watch, whenever it changes.
func (o *StatusOptions) Run(cmd *cobra.Command) error {
	if !o.Watch {
		var buf bytes.Buffer
		_, err := o.render(cmd.Context(), &buf)
		if ierr := interrupted(cmd.Context()); ierr != nil {
			// What the signal cut short (the drift's dry runs) was judged
			// by name: printed, the table would read as complete.
			return ierr
		}
		if _, werr := o.Out.Write(buf.Bytes()); werr != nil {
			return werr
		}
		o.sayNone()
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if o.print.table() {
		o.rows = newWatchRows()
	}
	watchers := make([]*watching, len(o.targets))
	o.readers = make([]deploy.Reader, len(o.targets))
	for i, t := range o.targets {
		watchers[i] = o.watchTarget(ctx, t, notify)
		o.readers[i] = watchers[i]
	}
	// The first read waits for the informers' first lists (or their
	// failure: the read then lists and says why), so the namespace is not
	// listed twice at the start.
	for slices.ContainsFunc(watchers, func(w *watching) bool { return !w.settled() }) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case <-changed: // the first lists' events: the first read shows them
	default:
	}
	refresh := time.NewTicker(statusRefresh)
	defer refresh.Stop()
	poll := time.NewTicker(o.Interval)
	defer poll.Stop()
	polled := func() bool {
		return slices.ContainsFunc(watchers, (*watching).polls)
	}
	var last []byte
	lastErr := ""
	for {
		read := time.Now()
		var buf bytes.Buffer
		state, err := o.render(ctx, &buf)
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		switch {
		case err != nil && last == nil && lastErr == "":
			// As kubectl get -w: what cannot be read at the start (an app
			// that does not exist, a namespace the user may not read) ends
			// the watch, where a pipeline would otherwise wait for good.
			return err
		case err != nil:
			// Keep watching through a failed read (apiserver restart,
			// network); say so once, not on every retry.
			if msg := err.Error(); msg != lastErr {
				fmt.Fprintf(o.ErrOut, "%s: %v\n", o.now().Format(time.TimeOnly), err)
				lastErr = msg
			}
		case !bytes.Equal(state, last):
			lastErr = ""
			if last != nil && o.print.table() && o.rows == nil {
				fmt.Fprintln(o.Out)
			}
			if _, err := o.Out.Write(buf.Bytes()); err != nil {
				return err
			}
			if o.rows != nil {
				o.rows.printed()
			}
			o.sayNone()
			last = state
		default:
			lastErr = ""
		}
		// Read again when something changed (or every statusRefresh; every
		// --interval for what may be listed but not watched), at most once
		// per --interval: a rollout's burst of pod events is one read.
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
				break wait
			case <-refresh.C:
				break wait
			case <-poll.C:
				if polled() {
					break wait
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(read.Add(o.Interval))):
		}
	}
}

// interrupted is the error of a one-shot read that Ctrl-C (or SIGTERM)
// cut short, nil when ctx was not cancelled: exit 130 (143), as a shell
// reports a kubectl read the signal ended, with nothing printed (a scale
// audit: list -A stopped after 1.5 s printed every row, exit 0).
func interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	code, cause := 130, context.Cause(ctx)
	// signal.NotifyContext's cause names the signal ("terminated signal
	// received"); it has no type to match.
	if strings.HasPrefix(cause.Error(), syscall.SIGTERM.String()) {
		code = 143
	}
	return &ExitError{Code: code, Err: fmt.Errorf("interrupted (%v): nothing printed, the read was cut short", cause)}
}

// Interrupted is err as exit 130 (143 for SIGTERM) where a signal ended the
// command's context ctx and err is what that made of its reads (it wraps
// context.Canceled): a shell's code for a command the signal ended, as
// status and list give it (interrupted). An error with its own exit code,
// or one a command made of the signal (deploy's restore, ErrInterrupted),
// is kept: history, gpu, events and check said exit 1 (a scale audit).
// Call it before the context's stop func, which cancels it too.
func Interrupted(ctx context.Context, err error) error {
	if err == nil || !errors.Is(err, context.Canceled) {
		return err
	}
	if _, ok := errors.AsType[*ExitError](err); ok {
		return err
	}
	var ierr *ExitError
	if !errors.As(interrupted(ctx), &ierr) {
		return err
	}
	return &ExitError{Code: ierr.Code, Err: err}
}

// asked is which apps of ns status shows: those named (kubectl zz status a
// b) whose stable Deployment o.Selector matches (read with it from r); nil
// for every app. Known before the read, so only those are judged by
// content (their dry runs), not every app of the namespace. names are
// their names, for the read's selectors (deploy.StatusSelectorsOf): nil
// for every app, or where more than maxNamedApps match (a selector that
// long is no cheaper than reading them all); empty when none matches.
func (o *StatusOptions) asked(ctx context.Context, r deploy.Reader, ns string) (keep func(namespace, app string) bool, names []string, _ error) {
	if len(o.Apps) == 0 && o.Selector == "" {
		return nil, nil, nil
	}
	names = o.Apps
	var match map[string]bool
	if o.Selector != "" {
		sel, _ := deploy.StatusSelectors(o.App)
		deps, err := r.Deployments(ctx, ns, sel+","+o.Selector)
		if err != nil {
			return nil, nil, fmt.Errorf("list deployments matching %s: %w", o.Selector, err)
		}
		match, names = map[string]bool{}, []string{}
		for _, d := range deps {
			match[d.Namespace+"/"+d.Name] = true
			names = append(names, d.Name)
		}
		slices.Sort(names)
		names = slices.Compact(names)
	}
	if len(names) > maxNamedApps {
		names = nil
	}
	return func(namespace, app string) bool {
		return (len(o.Apps) == 0 || slices.Contains(o.Apps, app)) && (match == nil || match[namespace+"/"+app])
	}, names, nil
}

// maxNamedApps bounds the apps status reads by a selector of their names
// (zz.io/app in (...)); past it, it reads every app and keeps those asked.
const maxNamedApps = 100

// sharedCauses groups apps by why their drift was judged by name
// (DriftByNameCause), in the order first met: a webhook that refuses every
// dry run, or a right the user lacks, is one cause for all, said in one
// line rather than one an app.
func sharedCauses(apps []*deploy.AppStatus) (byCause map[string][]*deploy.AppStatus, causes []string) {
	byCause = map[string][]*deploy.AppStatus{}
	for _, st := range apps {
		c := st.DriftByNameCause
		if c == "" || st.DriftByName == "" || st.RecordsUnreadable {
			continue
		}
		if byCause[c] == nil {
			causes = append(causes, c)
		}
		byCause[c] = append(byCause[c], st)
	}
	return byCause, causes
}

// maxNamed bounds the apps a shared line names.
const maxNamed = 3

// sharedBy names whos, the first maxNamed of them: "apps shop, cart and 18
// more".
func sharedBy(whos []string) string {
	if len(whos) > maxNamed {
		return fmt.Sprintf("apps %s and %d more", strings.Join(whos[:maxNamed], ", "), len(whos)-maxNamed)
	}
	return "apps " + prose.And(whos)
}

// sayNone says on stderr where the last read found no app.
func (o *StatusOptions) sayNone() {
	for _, n := range o.none {
		fmt.Fprintln(o.ErrOut, n)
	}
}

// statusItem is one app in one cluster, as -o json prints it.
type statusItem struct {
	Cluster string `json:"cluster,omitempty"`
	*deploy.AppStatus
}

// appItem is one app as -o prints it (kind App), cluster "" for one cluster.
func appItem(st *deploy.AppStatus, cluster string) (*unstructured.Unstructured, error) {
	u, err := printable(contract.OutputKindApp, st.App, statusItem{Cluster: cluster, AppStatus: st})
	if err != nil {
		return nil, err
	}
	u.SetNamespace(st.Namespace)
	return u, nil
}

// noApp is the error for app found in no namespace a command read: ns, or
// with all (-A) every one. status and events say it alike.
func noApp(ctx context.Context, t target, app string, all bool) error {
	if all {
		return deploy.NotFound("no app %s in any namespace (no Deployment or revision of it); kubectl zz list -A shows the apps", app)
	}
	return t.absent(ctx, deploy.NoApp(t.namespace, app))
}

// named keeps the statuses of the apps called names, in that order, and
// says which names no status has.
func named(apps []*deploy.AppStatus, names []string) (kept []*deploy.AppStatus, missing []string) {
	for _, name := range names {
		found := false
		for _, st := range apps {
			if st.App == name {
				kept, found = append(kept, st), true
			}
		}
		if !found {
			missing = append(missing, name)
		}
	}
	return kept, missing
}

// readNamespace is the namespace status reads in t: t's, or every one
// with -A.
func (o *StatusOptions) readNamespace(t target) string {
	if o.AllNamespaces {
		return metav1.NamespaceAll
	}
	return t.namespace
}

// render reads every target and writes the table (or the -o form) to w. It
// returns the state shown without the ages, which change by themselves, so
// --watch prints only what changed.
func (o *StatusOptions) render(ctx context.Context, w io.Writer) ([]byte, error) {
	several := len(o.targets) > 1
	// UP-TO-DATE beside READY, as kubectl get deployments shows them: a
	// template's VERSION with READY 3/3 read as that version serving,
	// while no pod of it was (an incident audit).
	header := []string{"APP", "REVISION", "VERSION", "IMAGE", "READY", "UP-TO-DATE", "RESTARTS", "CANARY", "STATUS", "UPDATED", "DEPLOYED-BY"}
	if o.list {
		header = []string{"APP", "REVISION", "VERSION", "READY", "UP-TO-DATE", "CANARY", "STATUS", "UPDATED"}
	}
	if o.print.wide() {
		header = []string{"APP", "REVISION", "VERSION", "IMAGE", "READY", "UP-TO-DATE", "RESTARTS", "SIDECARS", "CANARY", "CANARY-UP-TO-DATE", "CANARY-VERSION", "CANARY-IMAGE", "STATUS", "UPDATED", "DEPLOYED-BY", "CHANGE-CAUSE", "ENDPOINTS"}
	}
	if o.AllNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	tbl := o.print.newTable(header...)
	o.none = o.none[:0]
	var items []*unstructured.Unstructured
	var reasons bytes.Buffer
	shared := "" // the lines under the table that are no one app's
	var errs []error
	if o.rows != nil {
		o.rows.read = o.rows.read[:0]
	}
	for i, t := range o.targets {
		r := deploy.Live(t.client)
		if o.readers != nil {
			r = o.readers[i]
		} else if path := verdictPath(t); path != "" {
			// What an earlier run judged of objects unchanged since is
			// not asked again (its dry runs were most of list -A's cost).
			loadVerdicts(r.Judge(), path)
			defer saveVerdicts(r.Judge(), path)
		}
		ns := o.readNamespace(t)
		keep, names, err := o.asked(ctx, r, ns)
		var apps []*deploy.AppStatus
		switch {
		case err != nil:
		case names != nil && len(names) == 0:
			// -l matched no app: nothing to read.
		case o.App != "":
			// One app: judged whole, then "not found" told from "not
			// selected" (-l), which is no error.
			apps, err = deploy.Statuses(ctx, t.client, r, ns, o.App)
			if err == nil && len(apps) == 0 {
				err = noApp(ctx, t, o.App, o.AllNamespaces)
			}
			if keep != nil {
				apps = slices.DeleteFunc(apps, func(st *deploy.AppStatus) bool { return !keep(st.Namespace, st.App) })
			}
		default:
			apps, err = deploy.StatusesOf(ctx, t.client, r, ns, names, keep)
		}
		if err != nil {
			command := "status"
			if o.list {
				command = "list"
			}
			errs = append(errs, contextErr(t.context, allNamespacesErr(err, o.AllNamespaces, command, t.namespace)))
			continue
		}
		if len(o.Apps) > 0 {
			// As kubectl get a b: what is found is shown, each name
			// found nowhere an error.
			var missing []string
			apps, missing = named(apps, o.Apps)
			for _, app := range missing {
				errs = append(errs, contextErr(t.context, noApp(ctx, t, app, o.AllNamespaces)))
			}
		}
		if len(apps) == 0 && o.print.table() && len(o.Apps) == 0 {
			where := "namespace " + t.namespace
			if o.AllNamespaces {
				where = "any namespace"
			}
			if several {
				where += " of context " + t.context
			}
			if o.Selector != "" {
				where += " match " + o.Selector
			}
			line := fmt.Sprintf("No apps deployed by kubectl zz in %s.", where)
			if !o.AllNamespaces {
				if why := deploy.AbsentNamespace(ctx, t.client, t.namespace); why != "" {
					line = fmt.Sprintf("No apps deployed by kubectl zz in %s: %s.", where, why)
				}
			}
			o.none = append(o.none, line)
		}
		if slices.ContainsFunc(apps, func(st *deploy.AppStatus) bool { return st.RecordsUnreadable }) && !o.warned[t.name] {
			fmt.Fprintf(o.ErrOut, "warning: %v\n", contextErr(t.context, errors.New("the revision records (Secrets) cannot be read by this user, so REVISION, UPDATED and DEPLOYED-BY are unknown, and drift is judged by field manager name only (a write under kubectl zz's own name is not seen); kubectl zz needs list and get on secrets for them (the view role has none)")))
			if o.warned == nil {
				o.warned = map[string]bool{}
			}
			o.warned[t.name] = true
		}
		byCause, causes := sharedCauses(apps)
		whoOf := func(st *deploy.AppStatus) string {
			who := st.App
			if o.AllNamespaces {
				who = st.Namespace + "/" + st.App
			}
			if several {
				who = t.name + "/" + who
			}
			return who
		}
		for _, st := range apps {
			tbl.add(t.name, o.row(st, header)...)
			cluster := ""
			if several {
				cluster = t.name
			}
			u, err := appItem(st, cluster)
			if err != nil {
				return nil, err
			}
			items = append(items, u)
			who := whoOf(st)
			// Its lines under the table, kept apart for --watch, which prints
			// those of the apps that changed only.
			var mine bytes.Buffer

			if !o.list && len(st.Issues) > 0 {
				fmt.Fprintf(&mine, "%s is %s:\n", who, st.Health)
				for _, is := range st.Issues {
					fmt.Fprintf(&mine, "  %s\n", is)
				}
			}
			if !o.list && st.Health == deploy.HealthMissing && st.Revision > 0 {
				fmt.Fprintf(&mine, "%s is Missing: its Deployment is gone and its history is kept; kubectl zz rollback %s brings revision %d back (kubectl zz delete %s removes the history)\n",
					who, st.App, st.Revision, st.App)
			}
			if !o.list && len(st.Rollout) > 0 {
				fmt.Fprintf(&mine, "%s's rollout is unfinished:\n", who)
				for _, r := range st.Rollout {
					fmt.Fprintf(&mine, "  %s\n", r)
				}
			}
			if !o.list && len(st.Drift) > 0 {
				switch {
				case changing(st):
					fmt.Fprintf(&mine, "%s differs from its latest revision while %s changes it (recorded once that command ends):\n", who, st.ChangingBy)
				case st.Revision > 0 || st.RecordsUnreadable:
					fmt.Fprintf(&mine, "%s has drifted from its latest revision:\n", who)
				default:
					fmt.Fprintf(&mine, "%s runs what no revision records:\n", who)
				}
				for _, d := range st.Drift {
					fmt.Fprintf(&mine, "  %s\n", d)
				}
			}
			if !o.list && st.DriftByName != "" && !st.RecordsUnreadable && len(byCause[st.DriftByNameCause]) < 2 {
				// The view role's case is the warning above, said once;
				// a cause shared by apps, below, once.
				fmt.Fprintf(&mine, "%s: drift judged by field manager name only, so a write under kubectl zz's own name is not seen: %s\n", who, st.DriftByName)
			}
			switch {
			case o.list || st.ChangingBy == "":
			case st.LockExpires != nil:
				fmt.Fprintf(&mine, "%s is locked by %s, which a running command renews more often: held by a command that has ended? It expires at %s; until then another kubectl zz command on it is refused (kubectl delete lease %s -n %s frees it)\n",
					who, st.ChangingBy, st.LockExpires.Format(time.TimeOnly), deploy.LockName(st.App), st.Namespace)
			default:
				fmt.Fprintf(&mine, "%s is being changed by %s: another kubectl zz command on it is refused until it ends\n", who, st.ChangingBy)
			}
			if !o.list && st.NewerRecord != "" {
				fmt.Fprintf(&mine, "%s: %s: scale, restart, rollback, canary, promote and abort refuse it; upgrade kubectl-zz (kubectl krew upgrade zz)\n", who, st.NewerRecord)
			}
			if !o.list && st.NoProbes {
				fmt.Fprintf(&mine, "%s runs without probes (deployed with --debug): Ready says only that its containers started, and a hung process is not restarted; kubectl zz deploy without --debug brings them back\n", who)
			}
			var notes []string
			if st.Unbalanced != nil {
				notes = append(notes, st.Unbalanced.Note(st.App))
			}
			if st.ZoneGap != nil {
				notes = append(notes, st.ZoneGap.Note(st.App))
			}
			for _, note := range notes {
				if o.list {
					break
				}
				if who != st.App {
					note = who + ": " + note
				}
				fmt.Fprintln(&mine, note)
			}
			for _, b := range st.BlockingBudgets {
				if !o.list {
					fmt.Fprintf(&mine, "%s: %s\n", who, b.Note())
				}
			}
			reasons.Write(mine.Bytes())
			if o.rows != nil {
				o.rows.app(t.name+"/"+st.Namespace+"/"+st.App, u, mine.String())
			}
		}
		sharedFrom := reasons.Len()
		for _, cause := range causes {
			if o.list || len(byCause[cause]) < 2 {
				continue
			}
			var whos []string
			for _, st := range byCause[cause] {
				whos = append(whos, whoOf(st))
			}
			fmt.Fprintf(&reasons, "%s: drift judged by field manager name only, so a write under kubectl zz's own name is not seen: %s\n", sharedBy(whos), cause)
		}
		shared += reasons.String()[sharedFrom:]
	}
	state, err := json.Marshal(items)
	if err != nil {
		return nil, err
	}
	if o.print.table() && o.rows != nil {
		if err := o.rows.print(w, o.ErrOut, tbl, several, reasons.String(), shared); err != nil {
			return nil, err
		}
	} else if o.print.table() {
		if len(tbl.rows) > 0 {
			if err := tbl.print(w, several); err != nil {
				return nil, err
			}
		}
		switch {
		case reasons.Len() == 0:
		case o.print.NoHeaders:
			// Rows only on stdout, for scripts: a line of prose under
			// them read as an app (a kubectl audit).
			fmt.Fprint(o.ErrOut, prose.Terminal(reasons.String()))
		default:
			fmt.Fprintln(w)
			fmt.Fprint(w, prose.Terminal(reasons.String())) // pod messages, as the table's cells
		}
	} else if len(items) > 0 || len(errs) == 0 {
		// Nothing on stdout for an app that is not there, as kubectl get
		// prints for a NotFound name: `| jq` read an empty List.
		if err := o.print.printItems(w, items); err != nil {
			return nil, err
		}
	}
	return state, errors.Join(errs...)
}

// row is st's cells for header.
func (o *StatusOptions) row(st *deploy.AppStatus, header []string) []string {
	ver, img, ready, upToDate, canary, canaryUpToDate, canaryVer, canaryImg := "<none>", "<none>", "-", "-", "-", "-", "-", "-"
	if s := st.Stable; s != nil {
		ver, img, ready, upToDate = s.Version, s.Image, fmt.Sprintf("%d/%d", s.Ready, s.Desired), fmt.Sprintf("%d/%d", s.Updated, s.Desired)
	}
	if c := st.Canary; c != nil {
		canary, canaryUpToDate, canaryVer, canaryImg = fmt.Sprintf("%d/%d", c.Ready, c.Desired), fmt.Sprintf("%d/%d", c.Updated, c.Desired), c.Version, c.Image
	}
	rev, age, by := "<none>", "<unknown>", st.DeployedBy
	if st.RecordsUnreadable {
		// Not read, which <none> would say was not there (audits).
		rev, by = "<unknown>", "<unknown>"
	}
	if st.Revision > 0 {
		rev = strconv.FormatInt(st.Revision, 10)
		age = duration.HumanDuration(o.now().Sub(st.DeployedAt))
	}
	if len(st.Drift) > 0 {
		// Glued, as kubectl glues Ready,SchedulingDisabled: a space made
		// it two fields for awk (an audit); the lines under the table say
		// why. While a kubectl zz command holds the app's lock, what it
		// applied is not recorded yet: "changing", not drifted (an
		// app-developer audit read a running scale as drift).
		if changing(st) {
			rev += "(changing)"
		} else {
			rev += "(drifted)"
		}
	}
	// As kubectl get pods prints it: "3 (2m ago)".
	restarts := strconv.Itoa(int(st.Restarts))
	if st.Restarts > 0 && !st.LastRestart.IsZero() {
		restarts += " (" + duration.HumanDuration(o.now().Sub(st.LastRestart)) + " ago)"
	}
	cells := map[string]string{
		"NAMESPACE": st.Namespace, "APP": st.App, "REVISION": rev, "VERSION": ver, "IMAGE": img, "READY": ready, "UP-TO-DATE": upToDate, "RESTARTS": restarts, "CANARY": canary,
		"CANARY-UP-TO-DATE": canaryUpToDate, "CANARY-VERSION": canaryVer, "CANARY-IMAGE": canaryImg, "STATUS": string(st.Health), "UPDATED": age,
		"DEPLOYED-BY": by, "CHANGE-CAUSE": st.ChangeCause, "ENDPOINTS": cmp.Or(strings.Join(st.Endpoints, ","), "<none>"),
		"SIDECARS": cmp.Or(st.Sidecars.String(), "<none>"),
	}
	row := make([]string, len(header))
	for i, h := range header {
		row[i] = cells[h]
	}
	return row
}

// changing says a live kubectl zz command holds st's lock (renewed in
// time: one that has lapsed is said as such) and that all st's drift is an
// apply no revision records, that command's: a pause or a hand edit made
// meanwhile is no command's to record, and stays drift (review 36 #4).
func changing(st *deploy.AppStatus) bool {
	return st.ChangingBy != "" && st.LockExpires == nil && st.Unrecorded == len(st.Drift)
}

// watchRows is what status --watch printed of its table, so that a change
// prints only the rows of the apps it changed and their lines under the
// table, as kubectl get -w prints a line per change, where the whole table
// came again on every change (a scale audit: 156 lines a second under -A
// on a busy cluster scrolled the one changed row out of sight). A change
// of which apps are shown prints the whole table again. The rows are
// aligned by one tab writer kept across prints, kubectl's, which keeps its
// columns' widths.
type watchRows struct {
	to struct{ io.Writer }
	tw interface {
		io.Writer
		Flush() error
	}
	// shown: each app's item and lines as last printed (nil before the
	// first print); read: this render's, in the table's row order.
	shown map[string]watchedApp
	read  []watchedApp
	// shared: this render's lines of no one app; shownShared: as last
	// printed.
	shared, shownShared string
	// lines: the last print ended with lines under its table, which the
	// next rows are set apart from; ends: this render's does.
	lines, ends bool
}

// watchedApp is one app's row key, its item (what a change is judged
// by: no ages) and its lines under the table.
type watchedApp struct {
	key   string
	item  []byte
	lines string
}

func newWatchRows() *watchRows {
	r := &watchRows{}
	r.tw = printers.GetNewTabWriter(&r.to)
	return r
}

// app adds one app of this render, in row order.
func (r *watchRows) app(key string, u *unstructured.Unstructured, lines string) {
	item, err := u.MarshalJSON()
	if err != nil {
		item = nil // judged changed
	}
	r.read = append(r.read, watchedApp{key: key, item: item, lines: lines})
}

// changed is the rows of this render to print, nil for all of them (the
// first print, or apps shown that were not, or the reverse).
func (r *watchRows) changed() map[int]bool {
	if r.shown == nil || len(r.shown) != len(r.read) {
		return nil
	}
	only := map[int]bool{}
	for i, a := range r.read {
		was, ok := r.shown[a.key]
		if !ok {
			return nil
		}
		if a.item == nil || !bytes.Equal(was.item, a.item) {
			only[i] = true
		}
	}
	return only
}

// print writes tbl's rows through the kept tab writer, then the lines
// under the table (on errOut without headers, as a single print puts
// them): after the first print, only the rows and lines of the apps that
// changed, and the lines of no one app's when they changed; all of them
// when the apps shown changed.
func (r *watchRows) print(w, errOut io.Writer, tbl *table, several bool, all, shared string) error {
	r.shared = shared
	only := r.changed()
	if len(tbl.rows) == 0 {
		// No app: nothing on stdout, as without --watch (the "No apps"
		// line goes to stderr); the next app prints the whole table (a
		// review saw a bare header).
		r.ends = false
		return nil
	}
	if r.shown != nil && len(r.shown) > 0 && (only == nil || len(only) > 0 && r.lines && !tbl.noHeaders) {
		// Set apart from the last print: a whole table, or rows after
		// its lines.
		fmt.Fprintln(w)
	}
	r.to.Writer = w
	tbl.write(r.tw, several, !tbl.noHeaders && only == nil, only)
	if err := r.tw.Flush(); err != nil {
		return err
	}
	lines := all
	if only != nil {
		var b strings.Builder
		for i, a := range r.read {
			if only[i] {
				b.WriteString(a.lines)
			}
		}
		if shared != r.shownShared {
			b.WriteString(shared)
		}
		lines = b.String()
	}
	switch {
	case lines == "":
	case tbl.noHeaders:
		fmt.Fprint(errOut, prose.Terminal(lines))
	default:
		fmt.Fprintln(w)
		fmt.Fprint(w, prose.Terminal(lines))
	}
	r.ends = lines != ""
	return nil
}

// printed is called once the render was written out: its apps are the
// ones shown.
func (r *watchRows) printed() {
	r.shown = make(map[string]watchedApp, len(r.read))
	for _, a := range r.read {
		r.shown[a.key] = a
	}
	r.shownShared, r.lines = r.shared, r.ends
}
