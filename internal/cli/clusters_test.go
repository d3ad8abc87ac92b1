package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

const twoContexts = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts:
- {name: a, context: {cluster: c, user: u, namespace: ns-a}}
- {name: b, context: {cluster: c, user: u, namespace: ns-b}}
current-context: a
`

func flagsFor(t *testing.T, context, namespace string) *genericclioptions.ConfigFlags {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	f := genericclioptions.NewConfigFlags(true)
	f.KubeConfig, f.Context, f.Namespace = ptr.To(path), ptr.To(context), ptr.To(namespace)
	return f
}

func TestResolveTargets(t *testing.T) {
	tests := []struct {
		context, namespace string
		want               string
		note               string
	}{
		{context: "", want: "=ns-a"},
		{context: "b", want: "b=ns-b"},
		{context: "a,b", want: "a=ns-a b=ns-b"},
		{context: " a , b ,", want: "a=ns-a b=ns-b"},
		// One cluster and namespace by two names: acted once (the second
		// failed on the first's lock, every time).
		{context: "a,b", namespace: "shared", want: "a=shared",
			note: "contexts a and b reach the same cluster (https://127.0.0.1:1) and namespace shared: acting once, as a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.context+"/"+tt.namespace, func(t *testing.T) {
			var errOut bytes.Buffer
			targets, err := resolveTargets(flagsFor(t, tt.context, tt.namespace), true, &errOut)
			if err != nil {
				t.Fatal(err)
			}
			if errOut.String() != tt.note {
				t.Errorf("stderr %q, want %q", errOut.String(), tt.note)
			}
			var got []string
			for _, tg := range targets {
				if tg.client == nil {
					t.Errorf("no client for %q", tg.context)
				}
				got = append(got, tg.context+"="+tg.namespace)
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("targets = %v, want %s", got, tt.want)
			}
		})
	}
	if _, err := resolveTargets(flagsFor(t, "a,nope", ""), false, io.Discard); err == nil || !strings.Contains(err.Error(), "context nope") {
		t.Fatalf("unknown context: err = %v", err)
	}
}

func TestForEach(t *testing.T) {
	var out bytes.Buffer
	targets := []target{{context: "a", name: "a"}, {context: "b", name: "b"}, {context: "c", name: "c"}}
	err := forEach(context.Background(), targets, &out, func(tg target, progress io.Writer, live bool) error {
		if live {
			t.Errorf("live progress with several targets")
		}
		if _, err := io.WriteString(progress, "working\n"); err != nil {
			return err
		}
		if tg.context == "b" {
			return errors.New("rollout failed")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "failed in 1 of 3 contexts") || !strings.Contains(err.Error(), "context b: rollout failed") {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"[a] working\n", "[b] working\n", "[c] working\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, out.String())
		}
	}
	if err := forEach(context.Background(), targets[:1], &out, func(target, io.Writer, bool) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestContextsKeepFlags: --context a,b keeps every other connection flag the
// user gave, for each context, and every client gets the user agent and the
// warning handler.
func TestContextsKeepFlags(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, cert, key := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	for _, f := range []string{ca, cert, key} {
		if err := os.WriteFile(f, []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	root, flags := newCmdZZ(streams)
	var got []*rest.Config
	root.AddCommand(&cobra.Command{Use: "probe", RunE: func(cmd *cobra.Command, args []string) error {
		targets, err := resolveTargets(flags, false, io.Discard)
		if err != nil {
			return err
		}
		for _, tg := range targets {
			cfg, err := tg.flags.ToRESTConfig()
			if err != nil {
				return err
			}
			got = append(got, cfg)
		}
		return nil
	}})
	root.SetArgs([]string{"probe", "--kubeconfig", path, "--context", "a,b",
		"--token", "secret", "--server", "https://10.0.0.9:6443", "--as", "alice", "--as-group", "dev", "--as-group", "ops",
		"--as-uid", "42", "--as-user-extra", "scope=read", "--certificate-authority", ca, "--client-certificate", cert,
		"--client-key", key, "--tls-server-name", "api.internal", "--request-timeout", "7s", "--user", "u"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d configs, want 2", len(got))
	}
	for i, cfg := range got {
		checks := map[string]bool{
			"--token":                 cfg.BearerToken == "secret",
			"--server":                cfg.Host == "https://10.0.0.9:6443",
			"--as":                    cfg.Impersonate.UserName == "alice",
			"--as-group":              strings.Join(cfg.Impersonate.Groups, ",") == "dev,ops",
			"--as-uid":                cfg.Impersonate.UID == "42",
			"--as-user-extra":         strings.Join(cfg.Impersonate.Extra["scope"], ",") == "read",
			"--certificate-authority": cfg.CAFile == ca,
			"--client-certificate":    cfg.CertFile == cert,
			"--client-key":            cfg.KeyFile == key,
			"--tls-server-name":       cfg.ServerName == "api.internal",
			"--request-timeout":       cfg.Timeout == 7*time.Second,
			"user agent":              strings.HasPrefix(cfg.UserAgent, "kubectl-zz/"),
			"warning handler":         cfg.WarningHandler != nil,
		}
		for flag, ok := range checks {
			if !ok {
				t.Errorf("context %d: %s not carried: %+v", i, flag, cfg)
			}
		}
	}
}

// TestLogsSameClusterOnce: logs follows a cluster and namespace that two
// contexts reach once (it printed every line twice), also under -A where
// the contexts' default namespaces differ, and says so; contexts that reach
// different namespaces are both followed.
func TestLogsSameClusterOnce(t *testing.T) {
	for _, tt := range []struct {
		name, context, matching, namespace string
		all                                bool
		want                               []string
		note                               string
	}{
		{name: "one namespace", context: "a,b", namespace: "shared", want: []string{"a"},
			note: "contexts a and b reach the same cluster (https://127.0.0.1:1) and namespace shared: acting once, as a\n"},
		{name: "matched", matching: ".", namespace: "shared", want: []string{"a"},
			note: "contexts a and b reach the same cluster (https://127.0.0.1:1) and namespace shared: acting once, as a\n"},
		{name: "all namespaces", context: "a,b", all: true, want: []string{"a"},
			note: "contexts a and b reach the same cluster (https://127.0.0.1:1) and all namespaces: acting once, as a\n"},
		{name: "two namespaces", context: "a,b", want: []string{"a", "b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, _, errOut := genericiooptions.NewTestIOStreams()
			o := &LogsOptions{configFlags: flagsFor(t, tt.context, tt.namespace), IOStreams: streams, allContainers: true, ContextsMatching: tt.matching, AllNamespaces: tt.all}
			if err := o.Complete([]string{"shop"}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range o.clusters {
				got = append(got, c.Name)
			}
			if !slices.Equal(got, tt.want) || errOut.String() != tt.note {
				t.Errorf("followed %v, want %v; stderr %q, want %q", got, tt.want, errOut.String(), tt.note)
			}
		})
	}
}

// TestNoCluster: with no kubeconfig (KUBECONFIG unset and no
// ~/.kube/config, or naming files that do not exist) or one with no current
// context, a command says so and how to give one, where it said that
// localhost:8080 refused the connection (a new user's audit). --server,
// --context, or something listening on localhost:8080 (kubectl proxy
// --port 8080) are used as kubectl uses them.
func TestNoCluster(t *testing.T) {
	dir := t.TempDir()
	noCurrent := filepath.Join(dir, "no-current")
	if err := os.WriteFile(noCurrent, []byte(strings.Replace(fakeKubeconfig, "current-context: a\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	old, oldHome := dialDefaultServer, clientcmd.RecommendedHomeFile
	t.Cleanup(func() { dialDefaultServer, clientcmd.RecommendedHomeFile = old, oldHome })
	clientcmd.RecommendedHomeFile = filepath.Join(dir, ".kube", "config") // read at init from $HOME
	for _, tc := range []struct {
		name       string
		kubeconfig string // KUBECONFIG
		args       []string
		listening  bool // something answers at localhost:8080
		want       string
	}{
		{"KUBECONFIG unset, no ~/.kube/config", "", nil, false, "no kubeconfig: KUBECONFIG is unset and " + filepath.Join(dir, ".kube", "config") + " does not exist; set KUBECONFIG"},
		{"KUBECONFIG names no file", filepath.Join(dir, "nope"), nil, false, "no kubeconfig: KUBECONFIG names no file that exists (" + filepath.Join(dir, "nope") + ")"},
		{"no current context", noCurrent, nil, false, "the kubeconfig (" + noCurrent + ") sets no current context: run kubectl config use-context NAME"},
		{"no current context, --context", noCurrent, []string{"--context", "a"}, false, ""},
		{"--server", "", []string{"--server", "https://a.invalid"}, false, ""},
		{"a proxy on localhost:8080", "", nil, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.kubeconfig)
			dialDefaultServer = func(string, string, time.Duration) (net.Conn, error) {
				if tc.listening {
					c, _ := net.Pipe()
					return c, nil
				}
				return nil, errors.New("connection refused")
			}
			flags := genericclioptions.NewConfigFlags(true)
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			flags.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := flags.ToRESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			err = noCluster(flags, cfg)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("noCluster = %v; want %q", err, tc.want)
			}
		})
	}
}
