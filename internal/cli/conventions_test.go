package cli

import (
	"errors"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	k8stesting "k8s.io/client-go/testing"
)

// TestPrintStreamsYAML: the prints of a watch (-w -o yaml) are separate
// YAML documents, as kubectl get -w -o yaml writes them.
func TestPrintStreamsYAML(t *testing.T) {
	p := newPrintFlags()
	format := "yaml"
	p.OutputFormat = &format
	var b strings.Builder
	for _, name := range []string{"a", "b"} {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"name": name}}}
		if err := p.print(&b, obj); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Count(b.String(), "---\n") != 1 {
		t.Errorf("two prints are not two documents:\n%s", b.String())
	}
}

// TestAppArg: what -o name prints is taken back, as kubectl takes TYPE/NAME,
// and the app's Deployment as kubectl names it, in every command.
func TestAppArg(t *testing.T) {
	for arg, want := range map[string]string{
		"shop":                 "shop",
		"app.zz.io/shop":       "shop",
		"app/shop":             "shop",
		"deploy/shop":          "shop",
		"deployment/shop":      "shop",
		"deployment.apps/shop": "shop",
		"app.zz.io/":           `"app.zz.io/" names no app`,
		"svc/shop":             `"svc/shop": name an app as NAME, app/NAME or deployment/NAME`,
		"pod/shop-6f9c-x":      `"pod/shop-6f9c-x" names a pod; this command takes an app`,
		"Shop!":                `"Shop!" is not an app name: `,
		"deployment/Shop!":     `"deployment/Shop!" is not an app name: `,
		// deploy's rule, said as a rule (a label's regular expression
		// suggested MyValue and my_value: an audit).
		"my_app":      `"my_app" is not an app name: an app name is lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, at most 40 characters, not ending in -canary (e.g. shop-api) (kubectl zz list shows the apps)`,
		"Shop":        `"Shop" is not an app name: an app name is lower-case letters`,
		"a.b":         `"a.b" is not an app name: `,
		"-x":          `"-x" is not an app name: `,
		"shop-canary": `"shop-canary" is the canary of app shop: name the app, shop`,
		"app/shop-1":  "shop-1",
	} {
		got, err := appArg(arg)
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("appArg(%q) = %q, want %q", arg, got, want)
		}
	}
}

// TestContextsOnce: a context named twice is acted on once.
func TestContextsOnce(t *testing.T) {
	f := genericclioptions.NewConfigFlags(true)
	list := "dev, prod,dev,,prod"
	f.Context = &list
	if got := contexts(f); !slices.Equal(got, []string{"dev", "prod"}) {
		t.Errorf("contexts(%q) = %q", list, got)
	}
}

// TestFlagCompletions: --cluster and --user complete with the kubeconfig's
// names; the logs regexes offer no file names.
func TestFlagCompletions(t *testing.T) {
	dir := t.TempDir()
	kc := dir + "/config"
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: east, cluster: {server: "https://127.0.0.1:1"}}, {name: west, cluster: {server: "https://127.0.0.1:2"}}]
users: [{name: alice, user: {token: x}}]
contexts: [{name: a, context: {cluster: east, user: alice}}]
current-context: a
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "--kubeconfig", kc, "status", "--cluster", ""}, "east\nwest\n:4\n"},
		{[]string{"__complete", "--kubeconfig", kc, "status", "--user", ""}, "alice\n:4\n"},
		{[]string{"__complete", "--kubeconfig", kc, "logs", "shop", "-l", ""}, ":4\n"}, // -c completes the app's containers (TestCompleteLogsContainersAndPods)
	} {
		var out strings.Builder
		root := NewCmdZZ(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: io.Discard})
		root.SetArgs(tt.args)
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), tt.want) {
			t.Errorf("%v: %q, want %q", tt.args[3:], out.String(), tt.want)
		}
	}
}

// TestHistoryPrintsWhatAnswered: with one context down, history prints the
// other's revisions, then fails naming the one that did not answer.
func TestHistoryPrintsWhatAnswered(t *testing.T) {
	a := fakeClient(fakeDeployment("ns-a", "shop", "shop", "1", 2, 2), revisionSecret(t, "ns-a", "shop", 1, "1", "alice", "deploy 1", time.Now()))
	b := fakeClient()
	b.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	})
	zz := withFakeClusters(t, a, b)
	out, _, err := zz("history", "shop", "--context", "a,b")
	if err == nil || !strings.Contains(err.Error(), "context b: list revisions of shop: dial tcp") || !regexp.MustCompile(`(?m)^a +1 +1 +reg/shop:1 `).MatchString(out) {
		t.Errorf("history with context b down: %v\n%s", err, out)
	}
}

// TestVerbosityFlag: -v is kubectl's log level, taken by every command.
func TestVerbosityFlag(t *testing.T) {
	root := NewCmdZZ(genericiooptions.NewTestIOStreamsDiscard())
	f := root.PersistentFlags().ShorthandLookup("v")
	if f == nil || f.Name != "v" {
		t.Fatalf("no -v: %+v", f)
	}
	if err := root.PersistentFlags().Parse([]string{"-v", "6"}); err != nil || f.Value.String() != "6" {
		t.Errorf("-v 6: %v, %s", err, f.Value)
	}
	_ = root.PersistentFlags().Parse([]string{"-v", "0"})
}
