package cli

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/logs"
)

func TestLogsOptionsConfig(t *testing.T) {
	one := []logs.Cluster{{Name: "a", Namespaces: []string{"ns"}}}
	two := []logs.Cluster{{Name: "a", Namespaces: []string{"ns"}}, {Name: "b", Namespaces: []string{"ns"}}}
	tests := []struct {
		name    string
		o       LogsOptions
		wantErr string
		check   func(t *testing.T, c *logs.Config)
	}{
		{name: "nothing selected", o: LogsOptions{}, wantErr: "name an app"},
		{name: "app becomes a label selector", o: LogsOptions{App: "shop"}, check: func(t *testing.T, c *logs.Config) {
			if c.LabelSelector != contract.LabelApp+"=shop" || !c.Follow || c.Tail != -1 || c.Format.ShowCluster || c.Format.ShowNamespace {
				t.Errorf("config %+v", c)
			}
		}},
		{name: "app and -l both apply", o: LogsOptions{App: "shop", Selector: "tier=web"}, check: func(t *testing.T, c *logs.Config) {
			if c.LabelSelector != contract.LabelApp+"=shop,tier=web" {
				t.Errorf("selector %q", c.LabelSelector)
			}
		}},
		{name: "pod regex alone", o: LogsOptions{Pod: "^shop-", Container: "app", NoFollow: true}, check: func(t *testing.T, c *logs.Config) {
			if c.LabelSelector != "" || c.Selector.Pod.String() != "^shop-" || c.Selector.Container.String() != "app" || c.Follow {
				t.Errorf("config %+v", c)
			}
		}},
		{name: "--previous reads and exits", o: LogsOptions{App: "shop", Previous: true}, check: func(t *testing.T, c *logs.Config) {
			if c.Follow || !c.Selector.Previous {
				t.Errorf("follow %v, previous %v", c.Follow, c.Selector.Previous)
			}
		}},
		{name: "bad pod regex", o: LogsOptions{Pod: "("}, wantErr: "--pod"},
		// kubectl logs' TYPE/NAME.
		{name: "pod/NAME is that pod", o: LogsOptions{App: "pod/shop-7d9f.x"}, check: func(t *testing.T, c *logs.Config) {
			if c.LabelSelector != "" || c.Selector.Pod.String() != `^shop-7d9f\.x$` {
				t.Errorf("config %+v", c)
			}
		}},
		{name: "deployment/NAME is its app", o: LogsOptions{App: "deployment/shop"}, check: func(t *testing.T, c *logs.Config) {
			if c.LabelSelector != contract.LabelApp+"=shop" {
				t.Errorf("selector %q", c.LabelSelector)
			}
		}},
		{name: "a bare NAME may be a pod's (no app of that name)", o: LogsOptions{App: "shop-7d9f-x2x", Quiet: true}, check: func(t *testing.T, c *logs.Config) {
			if c.App != "shop-7d9f-x2x" || c.LabelSelector != contract.LabelApp+"=shop-7d9f-x2x" || !c.Quiet {
				t.Errorf("app %q, selector %q, quiet %v", c.App, c.LabelSelector, c.Quiet)
			}
		}},
		{name: "deployment/NAME is no pod", o: LogsOptions{App: "deployment/shop"}, check: func(t *testing.T, c *logs.Config) {
			if c.App != "" {
				t.Errorf("app %q, want none to read as a pod", c.App)
			}
		}},
		{name: "another kind", o: LogsOptions{App: "svc/shop"}, wantErr: `"svc/shop": name an app as NAME, app/NAME, deployment/NAME or pod/NAME`},
		{name: "not an app name", o: LogsOptions{App: "shop:1"}, wantErr: `"shop:1" is not an app name`},
		{name: "a node and a field selector, applied by the API server", o: LogsOptions{Node: "n1", FieldSelector: "status.phase=Running", ExcludePod: "-db-"}, check: func(t *testing.T, c *logs.Config) {
			if c.FieldSelector != "status.phase=Running,spec.nodeName=n1" || c.LabelSelector != "" || c.Selector.ExcludePod.String() != "-db-" {
				t.Errorf("config %+v", c)
			}
		}},
		{name: "bad field selector", o: LogsOptions{App: "x", FieldSelector: "status.phase"}, wantErr: "--field-selector"},
		{name: "bad exclude-pod regex", o: LogsOptions{App: "x", ExcludePod: "["}, wantErr: "--exclude-pod"},
		{name: "context that leaves --output-dir", o: LogsOptions{App: "x", OutputDir: "out", clusters: []logs.Cluster{{Name: "../x"}}},
			wantErr: `context "../x" cannot name a folder or file under --output-dir`},
		{name: "context with an empty element", o: LogsOptions{App: "x", OutputDir: "out", clusters: []logs.Cluster{{Name: "a//b"}}},
			wantErr: "rename the context"},
		{name: "bad include", o: LogsOptions{App: "x", Include: []string{"ok", "[z-a]"}}, wantErr: "--include"},
		{name: "bad output", o: LogsOptions{App: "x", Output: "yaml"}, wantErr: "--output must be"},
		{name: "bad template", o: LogsOptions{App: "x", Template: "{{.Pod"}, wantErr: "--template"},
		{name: "template naming a field lines lack", o: LogsOptions{App: "x", Template: "{{.PodName}} {{.Message}}"},
			wantErr: "can't evaluate field PodName in type logs.Line (the fields are .Cluster .Namespace .Pod .Container .Time .Message)"},
		{name: "template with a method of a field", o: LogsOptions{App: "x", Template: `{{.Time.Format "15:04"}} {{.Message}}`}},
		{name: "bad colour", o: LogsOptions{App: "x", Color: "sometimes"}, wantErr: "--color"},
		{name: "gzip without dir", o: LogsOptions{App: "x", Gzip: true}, wantErr: "--output-dir"},
		{name: "tail below -1", o: LogsOptions{App: "x", Tail: -2}, wantErr: "--tail"},
		{name: "--since-time", o: LogsOptions{App: "x", SinceTime: "2026-12-05T09:00:00+01:00"}, check: func(t *testing.T, c *logs.Config) {
			if !c.SinceTime.Equal(time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)) || c.Since != 0 {
				t.Errorf("since time %v, since %v", c.SinceTime, c.Since)
			}
		}},
		{name: "--since-time not RFC3339", o: LogsOptions{App: "x", SinceTime: "yesterday"}, wantErr: "not an RFC3339 time"},
		{name: "--since and --since-time", o: LogsOptions{App: "x", Since: time.Minute, SinceTime: "2026-12-05T08:00:00Z"}, wantErr: "give one"},
		{name: "two contexts show the cluster", o: LogsOptions{App: "x", clusters: two}, check: func(t *testing.T, c *logs.Config) {
			if !c.Format.ShowCluster || c.Format.ShowNamespace || len(c.Clusters) != 2 {
				t.Errorf("format %+v", c.Format)
			}
		}},
		{name: "-A shows the namespace", o: LogsOptions{App: "x", AllNamespaces: true, clusters: one}, check: func(t *testing.T, c *logs.Config) {
			if !c.Format.ShowNamespace {
				t.Error("no namespace in prefix with -A")
			}
		}},
		{name: "colour auto: terminal only, never for files", o: LogsOptions{App: "x", Color: "auto", colorTTY: true, OutputDir: "d"}, check: func(t *testing.T, c *logs.Config) {
			if c.Format.Color {
				t.Error("colour in files")
			}
		}},
		{name: "colour always", o: LogsOptions{App: "x", Color: "always", Highlight: []string{"ERR"}}, check: func(t *testing.T, c *logs.Config) {
			if !c.Format.Color || len(c.Format.Highlight) != 1 {
				t.Errorf("format %+v", c.Format)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			if o.Output == "" {
				o.Output = logs.OutputText
			}
			if o.Color == "" {
				o.Color = "never"
			}
			if o.MaxStreams == 0 {
				o.MaxStreams = logs.DefaultMaxStreams
			}
			if o.Tail == 0 {
				o.Tail = -1
			}
			c, err := o.config()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// TestLogsContainerDefaults: init containers are in by default (as stern;
// --init-containers=false drops them), ephemeral ones on request, and
// stern's --only-log-lines is --quiet.
func TestLogsContainerDefaults(t *testing.T) {
	for _, tt := range []struct {
		args               []string
		init, ephem, quiet bool
	}{
		{nil, true, false, false},
		{[]string{"--init-containers=false", "--ephemeral-containers", "-q"}, false, true, true},
		{[]string{"--only-log-lines"}, true, false, true},
	} {
		o := &LogsOptions{}
		cmd := newCmdLogs(o)
		if err := cmd.Flags().Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if o.Init != tt.init || o.Ephemeral != tt.ephem || o.Quiet != tt.quiet {
			t.Errorf("%v: init %v, ephemeral %v, quiet %v; want %v, %v, %v", tt.args, o.Init, o.Ephemeral, o.Quiet, tt.init, tt.ephem, tt.quiet)
		}
	}
}

// TestLogsNodeCompletion: --node completes with the nodes that run the
// app's pods, or every node without an app.
func TestLogsNodeCompletion(t *testing.T) {
	pod := func(name, app, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-a", Labels: map[string]string{contract.LabelApp: app}},
			Spec: corev1.PodSpec{NodeName: node}}
	}
	a := fakeClient(pod("shop-1", "shop", "n2"), pod("shop-2", "shop", "n1"), pod("shop-3", "shop", "n2"), pod("cart-1", "cart", "n3"),
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n9"}})
	zz := withFakeClusters(t, a, fakeClient())
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "logs", "shop", "--node", ""}, "n1\nn2\n:4\n"},
		{[]string{"__complete", "logs", "--node", ""}, "n1\nn9\n:4\n"},
	} {
		if out, _, err := zz(tt.args...); err != nil || !strings.HasPrefix(out, tt.want) {
			t.Errorf("%v: %v, %q; want %q", tt.args, err, out, tt.want)
		}
	}
}

// TestFollowFlag: kubectl logs' -f is accepted and changes nothing (following
// is the default); --follow=false is --no-follow.
func TestFollowFlag(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		noFollow bool
	}{
		{nil, false},
		{[]string{"-f"}, false},
		{[]string{"--follow"}, false},
		{[]string{"--follow=false"}, true},
		{[]string{"--no-follow"}, true},
		{[]string{"--no-follow", "-f"}, false},
	} {
		var o LogsOptions
		fs := pflag.NewFlagSet("logs", pflag.ContinueOnError)
		fs.BoolVar(&o.NoFollow, "no-follow", false, "")
		fs.VarPF(followFlag{&o.NoFollow}, "follow", "f", "").NoOptDefVal = "true"
		if err := fs.Parse(tt.args); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if o.NoFollow != tt.noFollow {
			t.Errorf("%v: no-follow %v, want %v", tt.args, o.NoFollow, tt.noFollow)
		}
	}
}

// TestLogsKubectlSpellings: kubectl's and stern's flag names for what zz
// logs does already are taken, not refused as unknown.
func TestLogsKubectlSpellings(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		streams int
		output  string
		wantErr string
	}{
		{[]string{"--max-log-requests", "5"}, 5, logs.OutputText, ""},
		{[]string{"--all-containers"}, logs.DefaultMaxStreams, logs.OutputText, ""},
		{[]string{"--prefix=false"}, logs.DefaultMaxStreams, logs.OutputRaw, ""},
		{[]string{"--all-containers=false"}, logs.DefaultMaxStreams, logs.OutputText, "--all-containers=false: kubectl zz logs reads every container"},
	} {
		o := &LogsOptions{configFlags: genericclioptions.NewConfigFlags(true), IOStreams: genericiooptions.NewTestIOStreamsDiscard()}
		cmd := newCmdLogs(o)
		if err := cmd.Flags().Parse(append(tt.args, "shop")); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		err := o.Complete([]string{"shop"})
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if o.MaxStreams != tt.streams || o.Output != tt.output {
			t.Errorf("%v: max streams %d, output %s; want %d, %s", tt.args, o.MaxStreams, o.Output, tt.streams, tt.output)
		}
	}
}

// TestLogsContextsTwoWays: --context beside --contexts-matching is refused
// (it was dropped unsaid: an audit), each alone is taken.
func TestLogsContextsTwoWays(t *testing.T) {
	zz := withFakeClusters(t, fakeClient(), fakeClient())
	const refused = "--context and --contexts-matching pick clusters two ways: give one"
	for _, tc := range []struct {
		args    []string
		refused bool
	}{
		{[]string{"--contexts-matching", "^a$", "--context", "b"}, true},
		{[]string{"--context", "a,b", "--contexts-matching", "."}, true},
		{[]string{"--contexts-matching", "^a$"}, false},
		{[]string{"--context", "b"}, false},
	} {
		_, _, err := zz(append([]string{"logs", "shop", "--no-follow"}, tc.args...)...)
		if got := err != nil && strings.Contains(err.Error(), refused); got != tc.refused {
			t.Errorf("%v: %v, refused %v", tc.args, err, tc.refused)
		}
	}
	if _, _, err := zz("logs", "shop", "--no-follow", "--context", "a,b", "--contexts-matching", "x"); err == nil || !strings.Contains(err.Error(), "--contexts-matching '^(a|b)$' names contexts too") {
		t.Errorf("the hint: %v", err)
	}
}

// TestLogsTimestampsAndStates: stern's --timestamps[=default|short] (a bare
// --timestamps is default; true/false, the flag's old boolean, still work)
// and --container-state (comma-separated or repeated, checked before any
// request), and the shell completion of their values.
func TestLogsTimestampsAndStates(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		stamps  bool
		layout  string
		states  []logs.ContainerState
		wantErr string
	}{
		{args: nil},
		{args: []string{"--timestamps"}, stamps: true},
		{args: []string{"--timestamps=default"}, stamps: true},
		{args: []string{"--timestamps=short"}, stamps: true, layout: logs.TimeShort},
		{args: []string{"--timestamps=true"}, stamps: true},
		{args: []string{"--timestamps=false"}},
		{args: []string{"--timestamps=long"}, wantErr: "want default or short (--timestamps=short; a bare --timestamps is default)"},
		{args: []string{"--container-state", "running"}, states: []logs.ContainerState{logs.StateRunning}},
		{args: []string{"--container-state", "running,terminated", "--container-state", "waiting"}, states: []logs.ContainerState{logs.StateRunning, logs.StateTerminated, logs.StateWaiting}},
		{args: []string{"--container-state", "all"}},
		{args: []string{"--container-state", "crashed"}, wantErr: `--container-state "crashed": want running, waiting, terminated, all`},
	} {
		o := &LogsOptions{configFlags: genericclioptions.NewConfigFlags(true), IOStreams: genericiooptions.NewTestIOStreamsDiscard()}
		cmd := newCmdLogs(o)
		err := cmd.Flags().Parse(append(tt.args, "shop"))
		var c *logs.Config
		if err == nil {
			o.App = "shop"
			c, err = o.config()
		}
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if c.Format.Timestamps != tt.stamps || c.Format.TimeLayout != tt.layout || !slices.Equal(c.Selector.States, tt.states) {
			t.Errorf("%v: timestamps %v %q, states %v; want %v %q, %v", tt.args, c.Format.Timestamps, c.Format.TimeLayout, c.Selector.States, tt.stamps, tt.layout, tt.states)
		}
	}

	zz := withFakeClusters(t, fakeClient(), fakeClient())
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "logs", "--container-state", ""}, "running\nwaiting\nterminated\nall\n:4\n"},
		{[]string{"__complete", "logs", "--timestamps="}, "default\nshort\n:4\n"},
	} {
		if out, _, err := zz(tt.args...); err != nil || !strings.HasPrefix(out, tt.want) {
			t.Errorf("%v: %v, %q; want %q", tt.args, err, out, tt.want)
		}
	}
}

// TestLogsTimezone: --timezone NAME puts both --timestamps forms in that
// zone (default in stern's layout); unset, each form prints as before the
// flag (default the kubelet's stamp, short the local time). A name the tz
// database lacks, or --timezone without --timestamps, is refused before any
// request, saying what to give; completion offers Local, UTC and common
// zones.
func TestLogsTimezone(t *testing.T) {
	ts := time.Date(2026, 11, 23, 10, 0, 0, 500_000_000, time.UTC)
	stamp := []byte("2026-11-23T10:00:00.5Z")
	for _, tt := range []struct {
		args    []string
		want    string // the line's timestamp column
		wantErr string
	}{
		{args: []string{"--timestamps"}, want: "2026-11-23T10:00:00.5Z"},
		{args: []string{"--timestamps=short"}, want: ts.In(time.Local).Format("01-02 15:04:05")},
		{args: []string{"--timestamps", "--timezone", "UTC"}, want: "2026-11-23T10:00:00.500000000Z"},
		{args: []string{"--timestamps", "--timezone", "utc"}, want: "2026-11-23T10:00:00.500000000Z"},
		{args: []string{"--timestamps", "--timezone", "Asia/Shanghai"}, want: "2026-11-23T18:00:00.500000000+08:00"},
		{args: []string{"--timestamps=short", "--timezone", "Asia/Shanghai"}, want: "11-23 18:00:00"},
		{args: []string{"--timestamps=short", "--timezone", "America/New_York"}, want: "11-23 05:00:00"},
		{args: []string{"--timestamps", "--timezone", "Local"}, want: ts.In(time.Local).Format(logs.TimeDefault)},
		{args: []string{"--timestamps", "--timezone", "Mars/Olympus"}, wantErr: `--timezone "Mars/Olympus": unknown time zone Mars/Olympus; give an IANA zone name such as Asia/Shanghai or Europe/Berlin (case matters), Local (this machine's zone) or UTC`},
		{args: []string{"--timestamps", "--timezone", "asia/shanghai"}, wantErr: "unknown time zone asia/shanghai; give an IANA zone name"},
		{args: []string{"--timezone", "UTC"}, wantErr: "--timezone UTC sets the zone of the timestamps, which only --timestamps prints: add --timestamps (or --timestamps=short)"},
	} {
		o := &LogsOptions{configFlags: genericclioptions.NewConfigFlags(true), IOStreams: genericiooptions.NewTestIOStreamsDiscard()}
		if err := newCmdLogs(o).Flags().Parse(append(tt.args, "shop")); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		o.App = "shop"
		err := o.Validate()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		f := o.cfg.Format
		line, err := f.Append(nil, f.NewSource("", logs.Target{Pod: "p", Container: "c"}), ts, stamp, []byte("hi"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "p/c " + tt.want + " hi\n"; string(line) != want {
			t.Errorf("%v: %q, want %q", tt.args, line, want)
		}
	}

	zz := withFakeClusters(t, fakeClient(), fakeClient())
	out, _, err := zz("__complete", "logs", "--timezone", "")
	if err != nil || !strings.HasPrefix(out, "Local\nUTC\nAsia/Shanghai\n") || !strings.HasSuffix(out, ":4\n") {
		t.Errorf("--timezone completion: %v, %q; want Local, UTC, then zones, no files", err, out)
	}
}

// TestLogsTimestampsSpaceValue: --timestamps takes its value after "=" only
// (a bare --timestamps is the default format), so in "--timestamps short"
// pflag reads "short" as an app name: a second one ("at most one app name"),
// or, worse, the only one, followed quietly. The error says to write
// --timestamps=short, and how to mean an app really named short (review 15
// L3).
func TestLogsTimestampsSpaceValue(t *testing.T) {
	zz := withFakeClusters(t, fakeClient(), fakeClient())
	for _, tt := range []struct {
		args    []string
		wantErr string // "" for no --timestamps error (the run may fail for its own reasons)
	}{
		{[]string{"shop", "--timestamps", "short"}, `"short" after a bare --timestamps is read as an app name; write --timestamps=short (for an app named short: --timestamps=default short)`},
		{[]string{"--timestamps", "short"}, "write --timestamps=short (for an app named short: --timestamps=default short)"},
		{[]string{"--timestamps", "default", "shop"}, "write --timestamps=default (for an app named default: --timestamps=default default)"},
		{[]string{"--timestamps=default", "short"}, ""},
		{[]string{"short", "--timestamps=short"}, ""},
		{[]string{"shop", "--timestamps"}, ""},
	} {
		_, stderr, err := zz(append([]string{"logs", "--no-follow", "--context", "a"}, tt.args...)...)
		got := ""
		if err != nil {
			got = err.Error() + stderr
		}
		if tt.wantErr == "" {
			if strings.Contains(got, "--timestamps") {
				t.Errorf("%v: %s; want no --timestamps error", tt.args, got)
			}
			continue
		}
		if !strings.Contains(got, tt.wantErr) {
			t.Errorf("%v: %v; want an error with %q", tt.args, got, tt.wantErr)
		}
	}
}
