package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/prose"
	"github.com/zzcloud/zz/internal/render"
)

// rolloutFlags are the flags of every command that changes an app and waits
// for its rollout (deploy, rollback, scale, restart, promote, abort).
type rolloutFlags struct {
	Timeout      time.Duration
	HistoryLimit int
	// flags are the command's, which say whether --timeout was given:
	// without it the wait lasts as long as the app's new pods may take to
	// start, batch by batch (deploy.RolloutTimeout).
	flags  *pflag.FlagSet
	result resultOutput
	// wait is --wait, of the commands that offer it (addWaitFlag): promote
	// and abort always wait, since what they remove must outlive the rollout.
	wait, waitFlag bool
}

func (f *rolloutFlags) addFlags(fs *pflag.FlagSet) {
	f.flags = fs
	fs.DurationVar(&f.Timeout, "timeout", 0, fmt.Sprintf("How long to wait for the rollout before failing (default: as long as the app's new pods may take to start by their startup probes, spec.startupTimeout, and to stay ready for spec.minReadySeconds, batch after batch of its rollout, plus %s; at least %s, at most %s unless one batch needs more; the progress says how long where it is over %s)",
		prose.Duration(render.StartupMargin), prose.Duration(deploy.DefaultTimeout), prose.Duration(deploy.MaxRolloutTimeout), prose.Duration(deploy.DefaultTimeout)))
	fs.IntVar(&f.HistoryLimit, "history-limit", deploy.DefaultHistoryLimit, "Revisions to keep per app")
}

// addWaitFlag adds --wait (deploy, scale, restart, rollback).
func (f *rolloutFlags) addWaitFlag(fs *pflag.FlagSet) {
	f.waitFlag = true
	fs.BoolVar(&f.wait, "wait", true, "Wait for the rollout, with its progress and failure reasons; --wait=false returns once the objects are applied and the revision recorded, as kubectl apply does (the same command without --wait=false then waits for it; kubectl zz status -w APP watches it); refused where the app's Service would move to a port only the new pods have (front added, renamed or moved, type changed), which nothing would move once they are ready")
}

// noWait says whether --wait=false was given.
func (f *rolloutFlags) noWait() bool { return f.waitFlag && !f.wait }

// waited ends a command's line: with --wait=false, that the rollout goes
// on, the command a pipeline gates on (gate; "" is the same command
// without --wait=false, which follows the rollout and exits 1 if it fails)
// and how to watch it: status -w never exits, so a pipeline could not
// wait on it (an audit of CI use).
func (f *rolloutFlags) waited(line, app, gate string, t target) string {
	if !f.noWait() {
		return line
	}
	return fmt.Sprintf("%s; its rollout goes on (--wait=false): %s waits for it (exit 1 if it fails), kubectl zz status -w %s -n %s watches it",
		line, cmp.Or(gate, "the same command without --wait=false"), app, t.namespace)
}

// addOutputFlag adds -o (deploy has its own, which also formats --dry-run).
func (f *rolloutFlags) addOutputFlag(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.result.format, "output", "o", "", resultOutputUsage)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(resultFormats, cobra.ShellCompDirectiveNoFileComp))
}

// validate checks the flags; no I/O.
func (f *rolloutFlags) validate() error {
	switch {
	case f.timeoutGiven() && f.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %s; leave it out to wait as long as the app's pods may take to start", f.Timeout)
	case f.HistoryLimit < 1:
		return fmt.Errorf("--history-limit must be at least 1, got %d", f.HistoryLimit)
	}
	return f.result.validate()
}

const resultOutputUsage = "Once done, print the app as kubectl zz status -o does (json, yaml, name, jsonpath=..., go-template=...) instead of one line per cluster"

var resultFormats = []string{"json", "yaml", "name", "jsonpath=", "go-template="}

// resultOutput is -o of the commands that change an app. Without it each
// cluster's success is one line ("shop scaled to 5, recorded as revision 7
// in namespace shop"); with it, once every cluster is done, the app as
// kubectl zz status -o prints it (kind App, in a List), read back after the
// change, so a script takes the revision recorded from it:
// kubectl zz deploy -o jsonpath='{.items[0].revision}'.
type resultOutput struct {
	format string
	print  *printFlags // set by validate when format is

	mu    sync.Mutex
	items map[string]*unstructured.Unstructured // by target name
	// judges keep, by target name, the verdicts of the command's own
	// check that the app runs its latest revision, which the read back
	// reuses: each object's dry runs asked once a command.
	judges map[string]*deploy.DriftJudge
}

// judge is the DriftJudge that the command on t keeps its verdicts in and
// done reads the app back with; nil without -o (nothing is read back).
func (r *resultOutput) judge(t target) *deploy.DriftJudge {
	if r.print == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.judges == nil {
		r.judges = map[string]*deploy.DriftJudge{}
	}
	if r.judges[t.name] == nil {
		r.judges[t.name] = deploy.NewDriftJudge()
	}
	return r.judges[t.name]
}

// validate builds the printer; no I/O.
func (r *resultOutput) validate() error {
	if r.format == "" {
		return nil
	}
	p := newPrintFlags()
	p.OutputFormat = &r.format
	if p.table() {
		return fmt.Errorf("--output %q is for tables; use one of: json, yaml, name, jsonpath=..., go-template=...", r.format)
	}
	if err := p.validate(); err != nil {
		return err
	}
	r.print = p
	return nil
}

// done reports that app changed in t: line on out, or, with -o, the app
// read back for flush. several says whether items name their cluster.
func (r *resultOutput) done(ctx context.Context, out io.Writer, t target, several bool, app, line string) error {
	if r.print == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		_, err := fmt.Fprintln(out, line)
		return err
	}
	st, err := deploy.AppStatusWith(ctx, t.client, r.judge(t), t.namespace, app)
	if err != nil {
		return fmt.Errorf("done (%s), but reading the app back for -o failed: %w", line, err)
	}
	cluster := ""
	if several {
		cluster = t.name
	}
	u, err := appItem(st, cluster)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.items == nil {
		r.items = map[string]*unstructured.Unstructured{}
	}
	r.items[t.name] = u
	return nil
}

// unchanged reports that app changed nothing in t: as done, and with -o
// the line on progress (stderr) too, as --diff's "no changes" goes there: the
// App read back is the same document a real change prints, and a pipeline
// that announced "revision 42 deployed" could not tell (an audit of CI
// use). The App carries no mark of it: it is the app's state, which a
// status prints alike, not the command's.
func (r *resultOutput) unchanged(ctx context.Context, out, progress io.Writer, t target, several bool, app, line string) error {
	if r.print != nil {
		r.mu.Lock()
		fmt.Fprintln(progress, line)
		r.mu.Unlock()
	}
	return r.done(ctx, out, t, several, app, line)
}

// flush prints, with -o, the apps done, in the order of targets (also
// when some clusters failed: what was done is shown), and joins err.
func (r *resultOutput) flush(out io.Writer, targets []target, err error) error {
	if r.print == nil {
		return err
	}
	var items []*unstructured.Unstructured
	for _, t := range targets {
		if u := r.items[t.name]; u != nil {
			items = append(items, u)
		}
	}
	if len(items) == 0 && err != nil {
		return err
	}
	return errors.Join(err, r.print.printItems(out, items))
}

// timeoutGiven says whether --timeout was given (cmd.Flags().Changed).
func (f *rolloutFlags) timeoutGiven() bool {
	return f.flags != nil && f.flags.Changed("timeout")
}

// timeout is deploy.Options' Timeout: --timeout where given, else zero,
// which the deploy package derives from the app (deploy.RolloutTimeout).
func (f *rolloutFlags) timeout() time.Duration {
	if !f.timeoutGiven() {
		return 0
	}
	return f.Timeout
}

// options are the deploy package's options for one target, reporting to progress.
func (f *rolloutFlags) options(t target, progress io.Writer, live bool) deploy.Options {
	return deploy.Options{
		Namespace: t.namespace, Timeout: f.timeout(), HistoryLimit: f.HistoryLimit, NoWait: f.noWait(),
		Progress: progress, Live: live, Width: termWidth(progress),
		Judge: f.result.judge(t),
	}
}
