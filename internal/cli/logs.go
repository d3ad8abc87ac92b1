package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/logs"
)

const logsExample = `  # Follow every pod and container of the app shop
  kubectl zz logs shop

  # Pods by label or by name, one container, the last 10 lines of each, then follow
  kubectl zz logs -l tier=web -c '^app$' --tail 10
  kubectl zz logs --pod '^shop-' --since 5m

  # Two clusters merged, errors only, highlighted
  kubectl zz logs shop --context prod-a,prod-b -i ERROR -H 'order=[0-9]+'

  # Every cluster whose context matches, as JSON
  kubectl zz logs shop --contexts-matching '^prod-' -o json

  # Download what the app has logged so far, one gzip file per container
  kubectl zz logs shop --no-follow --output-dir ./shop-logs --gzip

  # Why did it crash? The last lines of each container's previous run
  kubectl zz logs shop --previous --tail 50`

// LogsOptions is kubectl zz logs.
type LogsOptions struct {
	App              string
	Selector         string
	Pod              string
	ExcludePod       string
	Node             string
	FieldSelector    string
	Container        string
	ExcludeContainer string
	Init, Ephemeral  bool
	Quiet            bool
	AllNamespaces    bool
	ContextsMatching string
	NoFollow         bool
	Previous         bool
	Since            time.Duration
	SinceTime        string
	Tail             int64
	Timestamps       string // "", or a timestamps* format
	timestampsBare   bool   // --timestamps was given without a value
	Timezone         string // --timezone: "" prints each --timestamps form as before the flag
	ContainerStates  []string
	Include          []string
	Exclude          []string
	Highlight        []string
	Output           string
	Template         string
	Color            string
	MaxStreams       int
	OutputDir        string
	Gzip             bool

	// Set by Complete.
	clusters []logs.Cluster
	colorTTY bool
	// allContainers and prefix are kubectl's --all-containers and
	// --prefix, which zz does by default.
	allContainers, prefix bool
	// Set by Validate.
	cfg *logs.Config

	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewCmdLogs returns "kubectl zz logs".
func NewCmdLogs(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdLogs(&LogsOptions{configFlags: f, IOStreams: streams})
}

func newCmdLogs(o *LogsOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logs [APP] [-l selector] [--pod regex]",
		Short: "Follow the logs of every pod and container of an app, across clusters",
		Long: `Follow the logs of every pod and container of an app (or a label selector, or
pod names matching a regex), in one or several namespaces and clusters, merged
into one stream. Pods that start later are picked up, pods that go away are
dropped; a broken stream resumes where it stopped, with no line lost or doubled.`,
		Example: logsExample,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := o.timestampsValueAsApp(args); err != nil {
				return err
			}
			return atMostOneApp(cmd, args)
		},
		ValidArgsFunction: completeApps(o.configFlags),
		RunE:              runOptions(o),
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.Selector, "selector", "l", "", "Label selector of the pods (with APP, both must match)")
	fl.StringVar(&o.Pod, "pod", "", "Regex the pod names must match")
	fl.StringVar(&o.ExcludePod, "exclude-pod", "", "Regex of pod names to leave out")
	fl.StringVar(&o.Node, "node", "", "Only pods on this node (a field selector spec.nodeName=NODE)")
	fl.StringVar(&o.FieldSelector, "field-selector", "", "Field selector of the pods, applied by the API server (e.g. status.phase=Running)")
	fl.StringVarP(&o.Container, "container", "c", "", "Regex the container names must match")
	fl.StringVarP(&o.ExcludeContainer, "exclude-container", "E", "", "Regex of container names to leave out")
	fl.BoolVar(&o.Init, "init-containers", true, "Include init containers (as stern; native sidecars are in either way, and -c NAME finds any container)")
	fl.BoolVar(&o.Ephemeral, "ephemeral-containers", false, "Include ephemeral (debug) containers (-c NAME finds them without it)")
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "No \"+ pod/container\" and \"- pod/container\" lines on stderr when streams start and end")
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Every namespace (-n also takes a comma-separated list)")
	fl.StringVar(&o.ContextsMatching, "contexts-matching", "", "Follow every kubeconfig context whose name matches this regex (instead of --context: not with it)")
	fl.BoolVar(&o.NoFollow, "no-follow", false, "Print what was logged so far and exit")
	fl.VarPF(followFlag{&o.NoFollow}, "follow", "f", "Follow the logs: the default (as stern's), accepted as kubectl logs -f; --follow=false is --no-follow").NoOptDefVal = "true"
	fl.BoolVarP(&o.Previous, "previous", "p", false, "Print the log of each container's previous run (those that restarted: a crash loop's last crash) and exit")
	fl.DurationVar(&o.Since, "since", 0, "Only lines newer than this (e.g. 5m) from the containers running at start")
	fl.StringVar(&o.SinceTime, "since-time", "", "Only lines after this time (RFC3339, e.g. 2026-12-05T08:00:00Z) from the containers running at start; not with --since")
	fl.Int64Var(&o.Tail, "tail", -1, "Lines of each container running at start to show first; -1 for all")
	fl.VarPF(timestampsFlag{&o.Timestamps, &o.timestampsBare}, "timestamps", "", "Print each line's timestamp: --timestamps (=default, or =true: the kubelet's, UTC) or --timestamps=short (stern's MM-DD hh:mm:ss, local time); the value goes after =, never after a space").NoOptDefVal = timestampsBare
	fl.StringVar(&o.Timezone, "timezone", "", "Print --timestamps in this zone: an IANA name (Asia/Shanghai), Local or UTC; unset, default is the kubelet's UTC stamp and short the local time")
	fl.StringSliceVar(&o.ContainerStates, "container-state", nil, "Of the containers found at start, only those in these states (running, waiting, terminated, all; comma-separated or repeated; default all): their next runs are streamed either way (stern's)")
	fl.StringArrayVarP(&o.Include, "include", "i", nil, "Only lines matching this regex (repeatable: any of them)")
	fl.StringArrayVarP(&o.Exclude, "exclude", "e", nil, "Leave out lines matching this regex (repeatable)")
	fl.StringArrayVarP(&o.Highlight, "highlight", "H", nil, "Colour what matches this regex (repeatable)")
	fl.StringVarP(&o.Output, "output", "o", logs.OutputText, "Line format: text (source prefix), raw (message only) or json")
	fl.StringVar(&o.Template, "template", "", "Go template per line over .Cluster .Namespace .Pod .Container .Time .Message")
	fl.StringVar(&o.Color, "color", "auto", "Colour per source and --highlight: auto (when stdout is a terminal and NO_COLOR is not set), always or never")
	fl.IntVar(&o.MaxStreams, "max-streams", logs.DefaultMaxStreams, "Most log streams open at once, over all clusters")
	// kubectl's and stern's spellings of what zz does already, hidden: a
	// command copied from them runs instead of failing on an unknown flag.
	fl.IntVar(&o.MaxStreams, "max-log-requests", logs.DefaultMaxStreams, "--max-streams, as kubectl logs and stern call it")
	fl.BoolVar(&o.allContainers, "all-containers", true, "Every container: the default (-c picks some)")
	fl.BoolVar(&o.prefix, "prefix", true, "Prefix each line with its source: the default (--prefix=false is -o raw)")
	fl.BoolVar(&o.Quiet, "only-log-lines", false, "--quiet, as stern calls it")
	for _, name := range []string{"max-log-requests", "all-containers", "prefix", "only-log-lines"} {
		_ = fl.MarkHidden(name)
	}
	fl.StringVar(&o.OutputDir, "output-dir", "", "Write one file per cluster/namespace/pod/container under this folder instead of stdout")
	fl.BoolVar(&o.Gzip, "gzip", false, "Gzip the --output-dir files")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "raw", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("color", cobra.FixedCompletions([]string{"auto", "always", "never"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("timestamps", cobra.FixedCompletions([]string{timestampsDefault, timestampsShort}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("timezone", cobra.FixedCompletions(timezones, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("container-state", cobra.FixedCompletions(logs.ContainerStates, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagDirname("output-dir")
	_ = cmd.RegisterFlagCompletionFunc("node", completePodNodes(o.configFlags))
	// The containers and pods of the app's pods, as kubectl logs POD -c
	// <TAB> (a name is a regex matching itself): they offered nothing.
	for _, name := range []string{"container", "exclude-container"} {
		_ = cmd.RegisterFlagCompletionFunc(name, completePods(o.configFlags, podContainers))
	}
	for _, name := range []string{"pod", "exclude-pod"} {
		_ = cmd.RegisterFlagCompletionFunc(name, completePods(o.configFlags, podName))
	}
	// Other regexes and selectors: no file names offered (bash's fallback).
	for _, name := range []string{"selector", "field-selector", "contexts-matching", "include", "exclude", "highlight", "template"} {
		if fl.Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, cobra.NoFileCompletions)
		}
	}
	return cmd
}

// Complete resolves the contexts, their namespaces and clients.
func (o *LogsOptions) Complete(args []string) error {
	if len(args) == 1 {
		o.App = args[0]
	}
	// NO_COLOR (no-color.org) and TERM=dumb turn colour off, as stern's.
	o.colorTTY = isTerminal(o.Out) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	if !o.allContainers {
		return errors.New("--all-containers=false: kubectl zz logs reads every container; pick some with -c REGEX (or leave some out with -E)")
	}
	if !o.prefix && o.Output == logs.OutputText {
		o.Output = logs.OutputRaw
	}
	if o.ContextsMatching != "" && o.configFlags.Context != nil && *o.configFlags.Context != "" {
		// As kubectl refuses -l beside names: one was dropped unsaid (an
		// audit).
		return fmt.Errorf("--context and --contexts-matching pick clusters two ways: give one (--contexts-matching '^(%s)$' names contexts too)", strings.ReplaceAll(regexp.QuoteMeta(*o.configFlags.Context), ",", "|"))
	}
	names := contexts(o.configFlags)
	raw, err := o.configFlags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return err
	}
	if o.ContextsMatching != "" {
		re, err := regexp.Compile(o.ContextsMatching)
		if err != nil {
			return fmt.Errorf("--contexts-matching: %w", err)
		}
		names = nil
		for name := range raw.Contexts {
			if re.MatchString(name) {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return fmt.Errorf("no kubeconfig context matches --contexts-matching %q", o.ContextsMatching)
		}
		slices.Sort(names)
	}
	targets, err := targetsFor(o.configFlags, names)
	if err != nil {
		return err
	}
	if o.AllNamespaces {
		for i := range targets {
			targets[i].namespace = metav1.NamespaceAll
		}
	}
	// Two contexts that reach one cluster and namespace (prod and
	// prod-admin, both matched by --contexts-matching) would print every
	// line twice.
	targets = sameTargets(targets, o.ErrOut)
	for _, t := range targets {
		// One request opens each stream: with client-go's default 5 QPS, stern
		// had 109 of 200 pods attached after 20 s; these attach 200 at once.
		if err := t.connect(500, 1000); err != nil {
			return err
		}
		cl := logs.Cluster{Name: t.name, Client: t.client}
		if o.AllNamespaces {
			cl.Namespaces = []string{metav1.NamespaceAll}
		} else {
			for _, n := range strings.Split(t.namespace, ",") {
				if n = strings.TrimSpace(n); n != "" {
					cl.Namespaces = append(cl.Namespaces, n)
				}
			}
		}
		o.clusters = append(o.clusters, cl)
	}
	return nil
}

// Validate checks the flags and builds the logs configuration; no I/O.
func (o *LogsOptions) Validate() error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	o.cfg = cfg
	return nil
}

// config turns the flags into a logs.Config.
func (o *LogsOptions) config() (*logs.Config, error) {
	// kubectl logs' TYPE/NAME: a pod is that pod alone, a Deployment its app.
	bare := !strings.Contains(o.App, "/")
	if o.App != "" {
		app, pod, err := appRef(o.App, true)
		switch {
		case err != nil:
			return nil, err
		case pod != "" && o.Pod != "":
			return nil, errors.New("give one pod, as pod/NAME or --pod REGEX, not both")
		case pod != "":
			o.Pod = "^" + regexp.QuoteMeta(pod) + "$"
		}
		o.App = app
	}
	if o.App == "" && o.Selector == "" && o.Pod == "" && o.FieldSelector == "" && o.Node == "" {
		return nil, errors.New("name an app, or select pods with -l SELECTOR, --pod REGEX, --node NODE or --field-selector")
	}
	if o.Tail < -1 {
		return nil, fmt.Errorf("--tail must be -1 (all) or more, got %d", o.Tail)
	}
	if o.Since < 0 {
		return nil, fmt.Errorf("--since must be positive (how far back, e.g. 5m), got %s", o.Since)
	}

	var sinceTime time.Time
	if o.SinceTime != "" {
		if o.Since != 0 {
			return nil, errors.New("--since and --since-time both say where to start: give one")
		}
		var err error
		if sinceTime, err = time.Parse(time.RFC3339, o.SinceTime); err != nil {
			return nil, fmt.Errorf("--since-time %q: not an RFC3339 time, e.g. 2026-12-05T08:00:00Z or 2026-12-05T09:00:00+01:00", o.SinceTime)
		}
	}
	if o.MaxStreams < 1 {
		return nil, fmt.Errorf("--max-streams must be at least 1, got %d", o.MaxStreams)
	}
	if o.Gzip && o.OutputDir == "" {
		return nil, errors.New("--gzip applies to --output-dir files; add --output-dir DIR")
	}
	if o.OutputDir != "" {
		for _, c := range o.clusters {
			// Each context names a folder: refuse one that would leave DIR
			// before anything is read (the sink checks every name again).
			if c.Name != "" {
				if err := logs.SafeName("context", c.Name); err != nil {
					return nil, fmt.Errorf("%w; follow it without --output-dir, or rename the context (kubectl config rename-context)", err)
				}
			}
		}
	}
	cfg := &logs.Config{
		Clusters: o.clusters, Follow: !o.NoFollow && !o.Previous, Since: o.Since, SinceTime: sinceTime, Tail: o.Tail,
		MaxStreams: o.MaxStreams, OutputDir: o.OutputDir, Gzip: o.Gzip, Quiet: o.Quiet,
		Out: o.Out, ErrOut: o.ErrOut,
	}
	if bare {
		cfg.App = o.App // a pod's name, when no app has it (kubectl logs POD)
	}
	var sels []string
	if o.App != "" {
		sels = append(sels, contract.LabelApp+"="+o.App)
	}
	if o.Selector != "" {
		sels = append(sels, o.Selector)
	}
	cfg.LabelSelector = strings.Join(sels, ",")
	var fieldSels []string
	if o.FieldSelector != "" {
		if _, err := fields.ParseSelector(o.FieldSelector); err != nil {
			return nil, fmt.Errorf("--field-selector: %w", err)
		}
		fieldSels = append(fieldSels, o.FieldSelector)
	}
	if o.Node != "" {
		fieldSels = append(fieldSels, "spec.nodeName="+o.Node)
	}
	cfg.FieldSelector = strings.Join(fieldSels, ",")
	var err error
	if cfg.Selector, err = o.selector(); err != nil {
		return nil, err
	}
	if cfg.Format, err = o.format(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (o *LogsOptions) selector() (logs.Selector, error) {
	s := logs.Selector{Init: o.Init, Ephemeral: o.Ephemeral, Previous: o.Previous}
	var err error
	if s.States, err = logs.ParseContainerStates(o.ContainerStates); err != nil {
		return s, err
	}
	if s.Pod, err = optionalRegexp("--pod", o.Pod); err != nil {
		return s, err
	}
	if s.ExcludePod, err = optionalRegexp("--exclude-pod", o.ExcludePod); err != nil {
		return s, err
	}
	if s.Container, err = optionalRegexp("--container", o.Container); err != nil {
		return s, err
	}
	s.ExcludeContainer, err = optionalRegexp("--exclude-container", o.ExcludeContainer)
	return s, err
}

func (o *LogsOptions) format() (logs.Format, error) {
	f := logs.Format{Output: o.Output}
	if err := o.timestamps(&f); err != nil {
		return f, err
	}
	switch o.Output {
	case logs.OutputText, logs.OutputRaw, logs.OutputJSON:
	default:
		return f, fmt.Errorf("--output must be text, raw or json, got %q", o.Output)
	}
	switch o.Color {
	case "auto":
		f.Color = o.colorTTY && o.OutputDir == ""
	case "always":
		f.Color = true
	case "never":
	default:
		return f, fmt.Errorf("--color must be auto, always or never, got %q", o.Color)
	}
	if o.Template != "" {
		t, err := template.New("line").Parse(o.Template)
		if err != nil {
			return f, fmt.Errorf("--template: %w", err)
		}
		// A field the template names that Line lacks (stern's .PodName)
		// fails here, before any request, not at the first line.
		if err := t.Execute(io.Discard, logs.Line{}); err != nil {
			return f, fmt.Errorf("--template: %w (the fields are .Cluster .Namespace .Pod .Container .Time .Message)", err)
		}
		f.Template = t
	}
	var err error
	if f.Include, err = regexps("--include", o.Include); err != nil {
		return f, err
	}
	if f.Exclude, err = regexps("--exclude", o.Exclude); err != nil {
		return f, err
	}
	if f.Highlight, err = regexps("--highlight", o.Highlight); err != nil {
		return f, err
	}
	namespaces := map[string]bool{}
	for _, c := range o.clusters {
		for _, n := range c.Namespaces {
			namespaces[n] = true
		}
	}
	f.ShowCluster = len(o.clusters) > 1
	f.ShowNamespace = len(namespaces) > 1 || o.AllNamespaces
	return f, nil
}

// Run follows the logs until Ctrl-C (or, with --no-follow, until every stream
// ended).
func (o *LogsOptions) Run(cmd *cobra.Command) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer logsAtExit()
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(logsGCPercent)
	}
	return logs.Run(ctx, o.cfg)
}

// logsGCPercent is the GOGC of kubectl zz logs. A follower keeps little live
// data (clients, informer cache, one request and read buffer per stream: about
// 6 MB with 200 streams) and makes little garbage per line (mostly HTTP/2
// frames), so at Go's default of 100 the heap grows to twice what is live
// between collections for no gain. 50 lowers the peak resident set by 3-4 MB
// with 200 streams, for a few more short collections (14 instead of 8 while
// following 200 pods through a 400,000-line burst, each under 0.1 ms of
// pause). GOGC or GOMEMLIMIT in the environment take precedence.
const logsGCPercent = 50

// logsAtExit runs when logs.Run returns; builds with -tags zzprof set it to
// write memory profiles (logs_prof.go).
var logsAtExit = func() {}

func optionalRegexp(flag, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return re, nil
}

func regexps(flag string, exprs []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(exprs))
	for _, e := range exprs {
		re, err := optionalRegexp(flag, e)
		if err != nil {
			return nil, err
		}
		if re != nil {
			out = append(out, re)
		}
	}
	return out, nil
}

// followFlag is kubectl logs' -f/--follow. Following is the default here,
// so --follow changes nothing and --follow=false is --no-follow: a kubectl
// user's habit works either way.
type followFlag struct{ noFollow *bool }

func (f followFlag) String() string { return strconv.FormatBool(f.noFollow == nil || !*f.noFollow) }

func (f followFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*f.noFollow = !v
	return nil
}

func (f followFlag) Type() string { return "bool" }
