package cmd

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
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
	}{
		{context: "", want: "=ns-a"},
		{context: "b", want: "b=ns-b"},
		{context: "a,b", want: "a=ns-a b=ns-b"},
		{context: " a , b ,", want: "a=ns-a b=ns-b"},
		{context: "a,b", namespace: "shared", want: "a=shared b=shared"},
	}
	for _, tt := range tests {
		t.Run(tt.context+"/"+tt.namespace, func(t *testing.T) {
			targets, err := resolveTargets(flagsFor(t, tt.context, tt.namespace), true)
			if err != nil {
				t.Fatal(err)
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
	if _, err := resolveTargets(flagsFor(t, "a,nope", ""), false); err == nil || !strings.Contains(err.Error(), "context nope") {
		t.Fatalf("unknown context: err = %v", err)
	}
}

func TestForEach(t *testing.T) {
	var out bytes.Buffer
	targets := []target{{context: "a"}, {context: "b"}, {context: "c"}}
	err := forEach(targets, &out, func(tg target, progress io.Writer, live bool) error {
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
	if err := forEach(targets[:1], &out, func(target, io.Writer, bool) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
