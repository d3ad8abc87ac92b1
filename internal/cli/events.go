package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/logs"
)

// EventsOptions is kubectl zz events.
type EventsOptions struct {
	App           string
	Types         string
	Watch         bool
	AllNamespaces bool

	types       map[string]bool
	targets     []target
	print       *printFlags
	configFlags *genericclioptions.ConfigFlags
	now         func() time.Time
	// refresh is how often --watch lists the app's objects again, so the
	// events of objects made since (a new rollout's pods) are told apart.
	refresh time.Duration
	// retryMin and retryMax bound the back-off between --watch's reopens
	// while the apiserver does not answer.
	retryMin, retryMax time.Duration
	genericiooptions.IOStreams
}

// NewCmdEvents returns "kubectl zz events [APP]".
func NewCmdEvents(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &EventsOptions{print: newPrintFlags(), configFlags: f, IOStreams: streams, now: time.Now, refresh: 10 * time.Second,
		retryMin: 250 * time.Millisecond, retryMax: 10 * time.Second}
	cmd := &cobra.Command{
		Use:   "events [APP]",
		Short: "List the events of an app's objects: Deployments, ReplicaSets, pods, Service, HPA, ...",
		Long: `List the Kubernetes events of every object of an app (of every app kubectl zz
deployed in the namespace, without APP), oldest first, as kubectl events does for one
object: its Deployments (the canary's too), their ReplicaSets and pods, including pods
already gone (evicted, preempted, replaced by a rollout), its Service, Ingress,
HorizontalPodAutoscaler, PodDisruptionBudget and volume claims. With --watch, new ones
as they come, until Ctrl-C.`,
		Example: `  kubectl zz events shop
  kubectl zz events shop --types Warning --watch
  # every app of the namespace, in two clusters
  kubectl zz events --context prod-a,prod-b
  # the warnings of every app in every namespace
  kubectl zz events -A --types Warning
  kubectl zz events shop -o json`,
		Args:              atMostOneApp,
		ValidArgsFunction: completeApps(f),
		RunE:              runOptions(o),
	}
	o.print.addFlags(cmd)
	o.print.addNoHeaders(cmd)
	cmd.Flags().StringVar(&o.Types, "types", "", "Only events of these types, comma-separated: Normal, Warning")
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "After the events so far, print new ones as they come, until Ctrl-C")
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Every namespace (a NAMESPACE column first); needs the right to list events and the apps' objects cluster-wide")
	_ = cmd.RegisterFlagCompletionFunc("types", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []cobra.Completion{corev1.EventTypeNormal, corev1.EventTypeWarning}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// Complete takes the app name and connects to every --context.
func (o *EventsOptions) Complete(args []string) error {
	if len(args) == 1 {
		app, err := appArg(args[0])
		if err != nil {
			return err
		}
		o.App = app
	}
	var err error
	o.targets, err = resolveTargets(o.configFlags, true, o.ErrOut)
	return err
}

// Validate checks the flags; no I/O.
func (o *EventsOptions) Validate() error {
	var err error
	if o.types, err = deploy.EventTypes(o.Types); err != nil {
		return fmt.Errorf("--types: %w", err)
	}
	return o.print.validate()
}

// eventItem is one event in one cluster, as -o json prints it.
type eventItem struct {
	Cluster string `json:"cluster,omitempty"`
	deploy.AppEvent
}

// Run prints the events so far and, with --watch, follows new ones.
func (o *EventsOptions) Run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	several := len(o.targets) > 1
	type listed struct {
		matcher *deploy.EventMatcher
		rv      string
	}
	state := make([]listed, len(o.targets))
	var rows []eventItem
	var errs []error
	var absent []string // the namespaces with no events that do not exist
	for i, t := range o.targets {
		evs, m, rv, err := deploy.AppEvents(ctx, t.client, o.namespace(t), o.App, o.types)
		if err != nil {
			errs = append(errs, contextErr(t.context, allNamespacesErr(err, o.AllNamespaces, "events", t.namespace)))
			continue
		}
		state[i] = listed{m, rv}
		if len(evs) == 0 {
			// No events here: a typo, or an app this cluster lacks, said
			// per cluster as status says it (events outlive a deleted
			// app's objects, so only a cluster with none is asked).
			if err := o.missing(ctx, t); err != nil {
				errs = append(errs, contextErr(t.context, err))
			} else if o.App == "" {
				if why := deploy.AbsentNamespace(ctx, t.client, o.namespace(t)); why != "" {
					absent = append(absent, contextErr(t.context, errors.New(why)).Error())
				}
			}
		}
		for _, ev := range evs {
			it := eventItem{AppEvent: ev}
			if several {
				it.Cluster = t.name
			}
			rows = append(rows, it)
		}
	}
	sortItems(rows)
	// The rows found are printed, then the clusters that failed said, as
	// status does; nothing on stdout when nothing was read, as kubectl get
	// prints for a NotFound name (`| jq` read an empty List).
	if len(rows) > 0 || len(errs) == 0 {
		if err := o.printAll(rows, several); err != nil {
			return err
		}
	}
	if len(rows) == 0 && o.print.table() && len(errs) == 0 {
		if len(absent) > 0 {
			fmt.Fprintf(o.ErrOut, "No events of %s found: %s.\n", o.what(), strings.Join(absent, "; "))
		} else {
			fmt.Fprintf(o.ErrOut, "No events of %s found.\n", o.what())
		}
	}
	if !o.Watch || len(errs) > 0 {
		return errors.Join(errs...)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := &prefixWriter{mu: &sync.Mutex{}, w: o.Out} // one line at a time from every follower
	var wg sync.WaitGroup
	werrs := make([]error, len(o.targets))
	for i, t := range o.targets {
		wg.Go(func() { werrs[i] = o.follow(ctx, t, state[i].matcher, state[i].rv, several, out) })
	}
	wg.Wait()
	return errors.Join(werrs...)
}

// missing is the error for o.App found nowhere in t (in any namespace with
// -A), as status says it; nil when it is there, when no app was named, or
// when that cannot be told (the events were read: a user who may read them
// but not the app's objects still gets them).
func (o *EventsOptions) missing(ctx context.Context, t target) error {
	if o.App == "" {
		return nil
	}
	apps, err := deploy.Statuses(ctx, t.client, deploy.LiveUnjudged(t.client), o.namespace(t), o.App)
	if err != nil || len(apps) > 0 {
		return nil
	}
	return noApp(ctx, t, o.App, o.AllNamespaces)
}

// namespace is where t's events are read: every namespace with -A.
func (o *EventsOptions) namespace(t target) string {
	if o.AllNamespaces {
		return metav1.NamespaceAll
	}
	return t.namespace
}

func (o *EventsOptions) what() string {
	if o.App == "" {
		return "apps deployed by kubectl zz"
	}
	return o.App
}

// follow watches the events of t's namespace from resourceVersion rv and
// prints those of the app's objects, until ctx ends. The watch is opened
// again when the server closes it, and while the apiserver does not answer
// (a restart, a network blip) it is retried with back-off, said once when
// lost and once when back, as kubectl zz logs says it: the on-call's events
// window must outlive the outage it watches. Only an answer that retrying
// cannot change (Forbidden, Unauthorized, NotFound...) ends it.
func (o *EventsOptions) follow(ctx context.Context, t target, m *deploy.EventMatcher, rv string, several bool, out io.Writer) error {
	st := &eventsFollow{matcher: m, refreshed: o.now(), rv: rv}
	ns, where := o.namespace(t), "in "+t.namespace
	if o.AllNamespaces {
		where = "in all namespaces"
	}
	failed, lost := 0, false
	backoff := o.retryMin
	for ctx.Err() == nil {
		var w watch.Interface
		var err error
		verb := "watch"
		if st.relist {
			// Expired (410 Gone): go on from now. (A watch from "" would
			// replay every event as new.)
			verb = "list"
			var l *corev1.EventList
			if l, err = t.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{Limit: 1}); err == nil {
				st.rv, st.relist = l.ResourceVersion, false
			}
		}
		if err == nil {
			verb = "watch"
			w, err = t.client.CoreV1().Events(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: st.rv, AllowWatchBookmarks: true})
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			expired := apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
			switch {
			case expired:
				// A 410 at the open rather than as the watch's first
				// event: the same stale resourceVersion would be
				// refused forever.
				st.relist = true
			case deploy.Lasting(err) || apierrors.IsUnauthorized(err):
				return contextErr(t.context, fmt.Errorf("%s events %s: %w", verb, where, err))
			}
			if failed++; failed == eventsWarnAfter && !expired {
				lost = true
				fmt.Fprintf(o.ErrOut, "warning: %v; retrying the watch of events %s\n", contextErr(t.context, fmt.Errorf("lost the apiserver (%w)", logs.Cause(err))), where)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, o.retryMax)
			continue
		}
		if lost {
			fmt.Fprintf(o.ErrOut, "note: %v\n", contextErr(t.context, fmt.Errorf("the apiserver answers again; events %s followed again", where)))
		}
		failed, lost = 0, false
		opened := o.now()
		delivered, err := o.read(ctx, t, w, st, several, out)
		if err != nil || ctx.Err() != nil {
			return err
		}
		if delivered || o.now().Sub(opened) >= eventsQuickClose {
			backoff = o.retryMin
			continue
		}
		// Closed at once with nothing in it (an error event, a proxy that
		// drops streams): reopening at once would spin.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, o.retryMax)
	}
	return nil
}

// eventsQuickClose: a watch that ends sooner, having delivered nothing, is
// reopened after the back-off, not at once.
const eventsQuickClose = time.Second

// eventsWarnAfter is how many watch opens in a row fail before follow says
// the apiserver is lost: one failed reopen is a blip, not news.
const eventsWarnAfter = 2

// eventsFollow is what follow keeps between its watches: the matcher and
// when it was listed, the resourceVersion of the last event seen, whether
// the next open must list from now (410 Gone), and the events no app's
// object matched yet.
type eventsFollow struct {
	matcher   *deploy.EventMatcher
	refreshed time.Time
	rv        string
	relist    bool
	// unmatched are the events that matched no object the matcher knew
	// when they came (oldest first, at most maxUnmatched): those of an app
	// deployed since, which the matcher's next list takes in. The events
	// of a new app come within seconds of its deploy, all before that
	// list, and were dropped (a scale audit: 0 of a new app's 7 events).
	unmatched []*corev1.Event
}

// maxUnmatched bounds the events kept for the matcher's next list: on a
// busy cluster watched with -A, most events are of objects kubectl zz did
// not make, each kept one refresh at most.
const maxUnmatched = 1000

// read prints the app's events from w until it closes (the server's end, a
// broken connection, or a 410 Gone that sets st.relist), keeping st.rv at
// the last event seen; delivered says whether w gave any event (printed or
// not); an error is an output error. An event no object of the matcher's
// matches waits for its next list, made o.refresh after the last one (at
// the next event, or then at the latest while one waits), and is printed
// then if it matches.
func (o *EventsOptions) read(ctx context.Context, t target, w watch.Interface, st *eventsFollow, several bool, out io.Writer) (delivered bool, err error) {
	defer w.Stop()
	for {
		var due <-chan time.Time
		if len(st.unmatched) > 0 {
			due = time.After(o.refresh - o.now().Sub(st.refreshed))
		}
		var e watch.Event
		var open bool
		select {
		case <-ctx.Done():
			return delivered, nil
		case <-due:
			if err := o.replay(ctx, t, st, several, out); err != nil {
				return delivered, err
			}
			continue
		case e, open = <-w.ResultChan():
		}
		if !open {
			return delivered, nil
		}
		ev, ok := e.Object.(*corev1.Event)
		if !ok {
			if status, isStatus := e.Object.(*metav1.Status); isStatus && status.Code == http.StatusGone {
				st.relist = true
				return delivered, nil
			}
			continue
		}
		delivered = true
		st.rv = ev.ResourceVersion
		if e.Type != watch.Added && e.Type != watch.Modified {
			continue
		}
		if owner, ok := st.matcher.Match(ev); ok {
			if err := o.printEvent(out, t, owner, ev, several); err != nil {
				return delivered, err
			}
			continue
		}
		if len(st.unmatched) == maxUnmatched {
			st.unmatched = slices.Delete(st.unmatched, 0, 1)
		}
		st.unmatched = append(st.unmatched, ev)
		if o.now().Sub(st.refreshed) > o.refresh {
			if err := o.replay(ctx, t, st, several, out); err != nil {
				return delivered, err
			}
		}
	}
}

// replay lists the apps' objects again (st.matcher) and prints the events
// that waited for it and match now, oldest first; the others are dropped:
// their objects were there for this list, and are no app's. A list that
// fails keeps them for the next.
func (o *EventsOptions) replay(ctx context.Context, t target, st *eventsFollow, several bool, out io.Writer) error {
	fresh, err := deploy.NewEventMatcher(ctx, t.client, o.namespace(t), o.App)
	st.refreshed = o.now()
	if err != nil {
		return nil
	}
	st.matcher = fresh
	waiting := st.unmatched
	st.unmatched = nil
	for _, ev := range waiting {
		if owner, ok := fresh.Match(ev); ok {
			if err := o.printEvent(out, t, owner, ev, several); err != nil {
				return err
			}
		}
	}
	return nil
}

// printEvent prints ev, of app owner, unless --types leaves it out.
func (o *EventsOptions) printEvent(out io.Writer, t target, owner string, ev *corev1.Event, several bool) error {
	if o.types != nil && !o.types[ev.Type] {
		return nil
	}
	it := eventItem{AppEvent: deploy.Event(owner, ev)}
	if several {
		it.Cluster = t.name
	}
	return o.printOne(out, it, several)
}

func sortItems(rows []eventItem) {
	slices.SortStableFunc(rows, func(a, b eventItem) int {
		if c := deploy.CompareEvents(a.AppEvent, b.AppEvent); c != 0 {
			return c
		}
		return strings.Compare(a.Cluster, b.Cluster)
	})
}

// header is the table's columns; APP only without an app named.
func (o *EventsOptions) header() []string {
	h := []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
	if o.App == "" {
		h = append([]string{"APP"}, h...)
	}
	if o.AllNamespaces {
		h = append([]string{"NAMESPACE"}, h...)
	}
	if o.print.wide() {
		h = append(h, "COUNT")
	}
	return h
}

func (o *EventsOptions) cells(it eventItem) []string {
	c := []string{duration.HumanDuration(o.now().Sub(it.LastSeen)), it.Type, it.Reason, it.Object, it.Message}
	if o.App == "" {
		c = append([]string{it.App}, c...)
	}
	if o.AllNamespaces {
		c = append([]string{it.Namespace}, c...)
	}
	if o.print.wide() {
		c = append(c, strconv.Itoa(int(it.Count)))
	}
	return c
}

func (o *EventsOptions) printAll(rows []eventItem, several bool) error {
	if o.print.table() {
		if len(rows) == 0 {
			return nil
		}
		tbl := o.print.newTable(o.header()...)
		for _, r := range rows {
			tbl.add(r.Cluster, o.cells(r)...)
		}
		return tbl.print(o.Out, several)
	}
	items := make([]*unstructured.Unstructured, 0, len(rows))
	for _, r := range rows {
		u, err := printable(contract.OutputKindAppEvent, r.Name, r)
		if err != nil {
			return err
		}
		items = append(items, u)
	}
	if o.Watch {
		// One object per event, as kubectl get -w -o json prints them.
		for _, u := range items {
			if err := o.print.print(o.Out, u); err != nil {
				return err
			}
		}
		return nil
	}
	return o.print.printItems(o.Out, items)
}

// printOne prints an event --watch saw: a table line without a header, or
// one object.
func (o *EventsOptions) printOne(w io.Writer, it eventItem, several bool) error {
	if !o.print.table() {
		u, err := printable(contract.OutputKindAppEvent, it.Name, it)
		if err != nil {
			return err
		}
		return o.print.print(w, u)
	}
	tbl := o.print.newTable(o.header()...)
	tbl.add(it.Cluster, o.cells(it)...)
	var line lineBuffer
	if err := tbl.print(&line, several); err != nil {
		return err
	}
	_, err := w.Write(line.last())
	return err
}

// lineBuffer keeps what a table printed, so the header can be dropped.
type lineBuffer struct{ b []byte }

func (l *lineBuffer) Write(p []byte) (int, error) { l.b = append(l.b, p...); return len(p), nil }

// last is the last line written, with its line break.
func (l *lineBuffer) last() []byte {
	s := l.b
	if n := len(s); n > 0 && s[n-1] == '\n' {
		s = s[:n-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return append(s[i+1:], '\n')
		}
	}
	return append(s, '\n')
}
