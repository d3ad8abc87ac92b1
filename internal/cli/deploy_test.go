package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/deploy"
)

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return executeWithInput(t, "", args...)
}

// executeWithInput is execute with stdin holding in.
func executeWithInput(t *testing.T, in string, args ...string) (string, error) {
	t.Helper()
	streams, stdin, out, _ := genericiooptions.NewTestIOStreams()
	stdin.WriteString(in)
	root := NewCmdZZ(streams)
	// No cluster in unit tests: a kubeconfig whose server nothing listens on;
	// clients are built but never reach it.
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(unreachableKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	root.SetArgs(append([]string{"--kubeconfig", kubeconfig}, args...))
	err := root.Execute()
	return out.String(), err
}

const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: x}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
`

func writeSpec(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const shopSpec = "apiVersion: zz.io/v1\nkind: App\nname: shop\nspec:\n  type: web\n  image: reg/shop:1.0\n  memory: 256Mi\n"

func TestDeployDryRun(t *testing.T) {
	file := writeSpec(t, shopSpec)
	bad := writeSpec(t, strings.Replace(shopSpec, "256Mi", "12GB", 1)+"  memroy: 1Gi\n  replicas: three\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/shop.yaml" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, shopSpec)
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    []string
		wantErr string
	}{
		{name: "spec from stdin", args: []string{"-f", "-"}, stdin: shopSpec, want: []string{"kind: Deployment", "image: reg/shop:1.0"}},
		{name: "stdin merged with a file", args: []string{"-f", file, "-f", "-"}, stdin: "spec:\n  replicas: 7\n", want: []string{"replicas: 7", "image: reg/shop:1.0"}},
		{name: "stdin named in errors", args: []string{"-f", "-"}, stdin: strings.Replace(shopSpec, "256Mi", "12GB", 1), wantErr: `<stdin>: spec.memory: "12GB" is not a quantity`},
		{name: "stdin twice", args: []string{"-f", "-", "-f", "-"}, stdin: shopSpec, wantErr: "-f - reads the spec from stdin, which can be read once: give it once"},
		{name: "spec from a URL", args: []string{"-f", srv.URL + "/shop.yaml"}, want: []string{"kind: Deployment", "image: reg/shop:1.0"}},
		{name: "URL not found", args: []string{"-f", srv.URL + "/nope.yaml"}, wantErr: "the server answered 404 Not Found"},
		{name: "yaml from file", args: []string{"-f", file},
			want: []string{"kind: Service", "kind: Deployment", "namespace: team-a", "image: reg/shop:1.0", "memory: 256Mi", "path: /health"}},
		{name: "image override sets version", args: []string{"-f", file, "--image", "reg/shop:2.1"},
			want: []string{"image: reg/shop:2.1", `zz.io/version: "2.1"`}},
		{name: "debug strips probes", args: []string{"-f", file, "--debug"}, want: []string{"zz.io/debug: \"true\""}},
		{name: "flags only", args: []string{"--name", "jobs", "--type", "worker", "--image", "reg/jobs:3", "--replicas", "0"},
			want: []string{"name: jobs", "replicas: 0"}},
		{name: "json list", args: []string{"-f", file, "-o", "json"}, want: []string{`"kind": "List"`, `"kind": "Deployment"`}},
		{name: "bad memory in file", args: []string{"-f", writeSpec(t, strings.Replace(shopSpec, "256Mi", "12GB", 1))},
			wantErr: `shop.yaml: spec.memory: "12GB" is not a quantity; use e.g. 512Mi or 2Gi`},
		{name: "unknown field", args: []string{"-f", writeSpec(t, shopSpec+"  prot: 80\n")}, wantErr: "spec.prot: unknown field; did you mean \"port\"?"},
		{name: "flags without image", args: []string{"--name", "jobs", "--type", "worker"}, wantErr: "flags: spec.image: missing"},
		{name: "name with file", args: []string{"-f", file, "--name", "x"}, wantErr: "--name and --type describe an app without a file"},
		{name: "diff and dry-run", args: []string{"-f", file, "--diff"}, wantErr: "--dry-run and --diff exclude each other"},
		{name: "bad output", args: []string{"-f", file, "-o", "wide"}, wantErr: "--output of --dry-run must be 'yaml' or 'json'"},
		{name: "missing file", args: []string{"-f", filepath.Join(t.TempDir(), "nope.yaml")}, wantErr: "no such file"},
		// Every problem of every file and --set at once (app-developer audit).
		{name: "every problem at once", args: []string{"-f", bad, "--set", "spec.port=70000", "--set", "spec.cpu=lots"},
			wantErr: bad + `: spec.replicas: expected int32, got string "three"` + "\n" +
				bad + `: spec.memroy: unknown field; did you mean "memory"?` + "\n" +
				`--set spec.cpu=lots: spec.cpu: "lots" is not a quantity; use e.g. 250m or 2` + "\n" +
				bad + `: spec.memory: "12GB" is not a quantity; use e.g. 512Mi or 2Gi` + "\n" +
				"--set spec.port=70000: spec.port: 70000 is out of range; use a port from 1 to 65535, e.g. 8080"},
		{name: "image by digest", args: []string{"-f", file, "--image", "registry.local/web@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd"},
			wantErr: "--image registry.local/web@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd: no tag to take the version from; give --version 1.4.2, or tag the image"},
		{name: "image by digest with a version", args: []string{"-f", file, "--image", "registry.local/web@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd", "--version", "2.0"},
			want: []string{"image: registry.local/web@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd", `zz.io/version: "2.0"`}},
		{name: "two documents", args: []string{"-f", writeSpec(t, shopSpec+"---\n"+strings.Replace(shopSpec, "shop", "cart", -1))},
			wantErr: "shop.yaml holds 2 documents; kubectl zz deploy takes one app spec per file: split them and deploy each"},
		{name: "Kubernetes manifest", args: []string{"-f", writeSpec(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: 1, selector: {}, template: {}}\n")},
			wantErr: `shop.yaml is a Kubernetes Deployment (apps/v1), not a kubectl zz app spec (apiVersion zz.io/v1, kind App): apply it with kubectl apply, or write an app spec (README "Deploying apps")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := executeWithInput(t, tt.stdin, append([]string{"deploy", "--dry-run", "-n", "team-a"}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tt.name == "debug strips probes" && strings.Contains(out, "readinessProbe") {
				t.Errorf("--debug output has probes")
			}
		})
	}
}

func TestDeployNeedsSpec(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := execute(t, "deploy", "--dry-run")
	if err == nil || !strings.Contains(err.Error(), "no zz.yaml here") {
		t.Fatalf("err = %v", err)
	}
}

func TestRollbackAndHistoryFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"rollback"}, wantErr: "an app name is required"},
		{args: []string{"rollback", "shop", "--to-revision", "-1"}, wantErr: "--to-revision must be positive"},
		{args: []string{"rollback", "shop", "--timeout", "0s"}, wantErr: "--timeout must be positive"},
		{args: []string{"rollback", "shop", "--diff", "-o", "json"}, wantErr: "--diff prints a diff: drop --output"},
		{args: []string{"history"}, wantErr: "an app name is required"},
		{args: []string{"history", "shop", "-o", "xml"}, wantErr: `--output "xml" is not supported; use one of: wide, json, yaml`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if _, err := execute(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestHistory(t *testing.T) {
	a := fakeClient(
		revisionSecret(t, "ns-a", "shop", 1, "1.0", "alice", "deploy 1.0", time.Unix(0, 0)),
		revisionSecret(t, "ns-a", "shop", 2, "2.0", "bob", "deploy 2.0", time.Unix(60, 0)),
		revisionSecret(t, "ns-a", "cart", 1, "9.9", "eve", "deploy 9.9", time.Unix(0, 0)),
	)
	b := fakeClient(revisionSecret(t, "ns-b", "shop", 7, "2.0", "carol", "deploy 2.0", time.Unix(120, 0)))
	zz := withFakeClusters(t, a, b)
	tests := []struct {
		args  []string
		check func(t *testing.T, out string)
	}{
		{args: []string{"history", "shop"}, check: func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "REVISION") || !strings.Contains(lines[2], "reg/shop:2.0") || !strings.Contains(lines[2], "bob") {
				t.Fatalf("table:\n%s", out)
			}
		}},
		{args: []string{"history", "shop", "-o", "wide"}, check: func(t *testing.T, out string) {
			// The fake records carry no objects and no spec.
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.HasSuffix(lines[0], "CHANGE-CAUSE   CANARY   OBJECTS   SPEC") || !strings.HasSuffix(strings.Join(strings.Fields(lines[2]), " "), "deploy 2.0 - 0 -") {
				t.Fatalf("-o wide:\n%s", out)
			}
		}},
		{args: []string{"history", "shop", "--context", "a,b"}, check: func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 4 || !strings.HasPrefix(lines[0], "CLUSTER") || !strings.HasPrefix(lines[1], "a ") || !strings.HasPrefix(lines[3], "b ") || !strings.Contains(lines[3], "carol") {
				t.Fatalf("table:\n%s", out)
			}
		}},
		{args: []string{"history", "shop", "-o", "json"}, check: func(t *testing.T, out string) {
			var back struct {
				Kind  string
				Items []struct {
					Kind     string
					Metadata struct{ Name string }
					deploy.Revision
				}
			}
			if err := json.Unmarshal([]byte(out), &back); err != nil || back.Kind != "List" || len(back.Items) != 2 ||
				back.Items[1].Number != 2 || back.Items[1].Kind != "Revision" || back.Items[1].Metadata.Name != "zz.shop.r2" {
				t.Fatalf("json %s: %v", out, err)
			}
		}},
		{args: []string{"history", "shop", "-o", "name", "--context", "b,a"}, check: func(t *testing.T, out string) {
			if out != "revision.zz.io/zz.shop.r7\nrevision.zz.io/zz.shop.r1\nrevision.zz.io/zz.shop.r2\n" {
				t.Fatalf("-o name:\n%s", out)
			}
		}},
		// The namespace, top level and in metadata, as status's items have
		// it; the keys scripts read before are kept.
		{args: []string{"history", "shop", "--context", "a,b", "-o", "jsonpath={range .items[*]}{.cluster}:{.namespace}:{.metadata.namespace}:{.revision}:{.user}:{.time} {end}"}, check: func(t *testing.T, out string) {
			if out != "a:ns-a:ns-a:1:alice:1970-01-01T00:00:00Z a:ns-a:ns-a:2:bob:1970-01-01T00:01:00Z b:ns-b:ns-b:7:carol:1970-01-01T00:02:00Z " {
				t.Fatalf("jsonpath: %q", out)
			}
		}},
		{args: []string{"history", "shop", "--context", "a,b", "-o", "jsonpath={range .items[*]}{.cluster}:{.revision}:{.user} {end}"}, check: func(t *testing.T, out string) {
			if out != "a:1:alice a:2:bob b:7:carol " {
				t.Fatalf("jsonpath: %q", out)
			}
		}},
		{args: []string{"history", "shop", "-o", "go-template={{range .items}}{{.version}},{{end}}"}, check: func(t *testing.T, out string) {
			if out != "1.0,2.0," {
				t.Fatalf("go-template: %q", out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, stderr, err := zz(tt.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			tt.check(t, out)
		})
	}
	// A missing app fails in every format, with nothing on stdout (a
	// script's -o json had read an empty List and exit 0).
	for _, format := range []string{"", "json", "yaml", "name", "jsonpath={.items[*].revision}"} {
		args := []string{"history", "nope"}
		if format != "" {
			args = append(args, "-o", format)
		}
		if out, _, err := zz(args...); err == nil || !strings.Contains(err.Error(), "nope has no recorded revisions in namespace ns-a") || out != "" {
			t.Errorf("history of an unknown app -o %s: %v, stdout %q", format, err, out)
		}
	}
}

// TestHistorySpec: history --spec prints the recorded spec as a file deploy
// -f takes; diff --spec compares two; a revision recorded without one says
// so and how to see its objects.
func TestHistorySpec(t *testing.T) {
	withSpec := func(n int64, version, spec string) *corev1.Secret {
		s := revisionSecret(t, "ns-a", "shop", n, version, "alice", "deploy "+version, time.Unix(n*60, 0))
		s.Data["spec.json"] = []byte(spec)
		return s
	}
	a := fakeClient(
		revisionSecret(t, "ns-a", "shop", 1, "1.0", "alice", "deploy 1.0", time.Unix(0, 0)),
		withSpec(2, "2.0", `{"apiVersion":"zz.io/v1","kind":"App","name":"shop","spec":{"type":"web","image":"reg/shop:2.0","env":{"LOG":"info"}}}`),
		withSpec(3, "3.0", `{"apiVersion":"zz.io/v1","kind":"App","name":"shop","spec":{"type":"web","image":"reg/shop:3.0","replicas":4,"env":{"LOG":"info"}}}`),
	)
	zz := withFakeClusters(t, a, fakeClient())
	out, stderr, err := zz("history", "shop", "--spec")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	app, err := appspec.Load("printed", []byte(out))
	if err != nil {
		t.Fatalf("the printed spec is no spec file:\n%s\n%v", out, err)
	}
	if app.Name != "shop" || app.Spec.Image != "reg/shop:3.0" || *app.Spec.Replicas != 4 || app.Spec.Env["LOG"] != "info" || strings.Contains(out, "metadata") {
		t.Fatalf("latest spec:\n%s", out)
	}
	if out, _, err := zz("history", "shop", "--spec", "--revision", "2", "-o", "jsonpath={.spec.image}"); err != nil || out != "reg/shop:2.0" {
		t.Fatalf("jsonpath of revision 2: %q, %v", out, err)
	}
	if out, _, err := zz("history", "shop", "--spec", "-o", "json"); err != nil || !strings.HasPrefix(out, "{") || !strings.Contains(out, `"replicas": 4`) {
		t.Fatalf("-o json: %q, %v", out, err)
	}
	var exit *ExitError
	if _, _, err := zz("diff", "shop", "--revision", "1", "--spec"); !errors.As(err, &exit) || exit.Code != 2 || !errors.Is(err, deploy.ErrNoSpec) {
		t.Fatalf("diff --spec from a revision without one: %v", err)
	}
	if _, _, err := zz("history", "shop", "--spec", "--revision", "1"); err == nil || !strings.Contains(err.Error(), "revision 1 of shop was recorded without its app spec") ||
		!strings.Contains(err.Error(), "kubectl zz history shop --revision 1 prints its objects") {
		t.Fatalf("a revision without a spec: %v", err)
	}
	for _, args := range [][]string{
		{"history", "shop", "--spec", "--context", "a,b"},
		{"history", "shop", "--spec", "-o", "name"},
		{"history", "shop", "--spec", "-o", "wide"},
	} {
		if _, _, err := zz(args...); err == nil || !strings.Contains(err.Error(), "--spec prints") {
			t.Errorf("%v: %v", args, err)
		}
	}
	out, _, err = zz("diff", "shop", "--revision", "2", "--spec")
	if !errors.Is(err, ErrDiffers) {
		t.Fatalf("diff --spec 2..latest: %v", err)
	}
	for _, want := range []string{"--- revision 2 spec", "+++ revision 3 spec", "-  image: reg/shop:2.0", "+  image: reg/shop:3.0", "+  replicas: 4"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff --spec lacks %q:\n%s", want, out)
		}
	}
	// Without --revision: the one before the latest, what the last change
	// did (it was required: an app-developer audit).
	if out2, _, err := zz("diff", "shop", "--spec"); !errors.Is(err, ErrDiffers) || out2 != out {
		t.Fatalf("diff --spec with no --revision: %v\n%s\nwant\n%s", err, out2, out)
	}
	if _, _, err := zz("diff", "shop", "--spec", "--to", "1"); err == nil || !strings.Contains(err.Error(), "shop has no revision recorded before 1 in namespace ns-a: nothing to diff it with") {
		t.Fatalf("diff --to 1: %v", err)
	}
	if out, stderr, err := zz("diff", "shop", "--revision", "3", "--spec"); err != nil || out != "" || stderr != "shop: no changes in namespace ns-a\n" {
		t.Fatalf("diff --spec of a revision with itself: %q, %v", out, err)
	}
}

// TestCompleteRevisionsAndKeptApps: revision flags complete with the app's
// revisions, newest first, described; an app with records and no
// Deployment (delete --keep-history) completes as an app name.
func TestCompleteRevisionsAndKeptApps(t *testing.T) {
	a := fakeClient(
		revisionSecret(t, "ns-a", "shop", 1, "1.0", "alice", "deploy 1.0", time.Unix(0, 0)),
		revisionSecret(t, "ns-a", "shop", 2, "2.0", "bob", "scale to 4", time.Unix(60, 0)),
		revisionSecret(t, "ns-a", "shop", 10, "2.0", "bob", "restart", time.Unix(120, 0)),
		revisionSecret(t, "ns-a", "cart", 1, "9.9", "eve", "deploy 9.9", time.Unix(0, 0)),
	)
	zz := withFakeClusters(t, a, fakeClient())
	// :36 is NoFileComp (4) | KeepOrder (32).
	for _, args := range [][]string{
		{"__complete", "history", "shop", "--revision", ""},
		{"__complete", "diff", "shop", "--to", ""},
		{"__complete", "rollback", "shop", "--to-revision", ""},
	} {
		if out, _, err := zz(args...); err != nil || !strings.HasPrefix(out, "10\t2.0 restart\n2\t2.0 scale to 4\n1\t1.0 deploy 1.0\n:36\n") {
			t.Errorf("%v: %v\n%q", args, err, out)
		}
	}
	if out, _, err := zz("__complete", "rollback", ""); err != nil || !strings.HasPrefix(out, "cart\nshop\n:4\n") {
		t.Errorf("apps with records only: %v\n%q", err, out)
	}
	// status takes several apps: the ones not named yet.
	if out, _, err := zz("__complete", "status", "shop", ""); err != nil || !strings.HasPrefix(out, "cart\n:4\n") {
		t.Errorf("status shop <TAB>: %v\n%q", err, out)
	}
}

// TestCompleteCanariesAndDeployments: promote and abort complete the apps
// that run a canary, init --from the Deployments kubectl zz did not make.
func TestCompleteCanariesAndDeployments(t *testing.T) {
	hand := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "ns-a"}}
	a := fakeClient(fakeDeployment("ns-a", "shop", "shop", "1", 2, 2), fakeDeployment("ns-a", "shop-canary", "shop", "2", 1, 1),
		fakeDeployment("ns-a", "cart", "cart", "1", 2, 2), hand)
	zz := withFakeClusters(t, a, fakeClient())
	for _, verb := range []string{"promote", "abort"} {
		if out, _, err := zz("__complete", verb, ""); err != nil || out != "shop\n:4\n" {
			t.Errorf("%s: %v\n%q; want shop alone", verb, err, out)
		}
	}
	if out, _, err := zz("__complete", "init", "--from", ""); err != nil || !strings.HasPrefix(out, "deployment/legacy\n:4\n") {
		t.Errorf("init --from: %v\n%q; want deployment/legacy alone", err, out)
	}
}

// TestCompleteNamespacesAndContexts: -n completes the cluster's namespaces
// and --context the kubeconfig's contexts, after a comma the others.
func TestCompleteNamespacesAndContexts(t *testing.T) {
	zz := withFakeClusters(t, fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ml"}}), fakeClient())
	for args, want := range map[string]string{
		"__complete status -n ":             "ml\nshop\n:4\n",
		"__complete logs --context ":        "a\nb\n:4\n",
		"__complete status --context a,":    "a,b\n:4\n",
		"__complete status --context a -n ": "ml\nshop\n:4\n",
	} {
		fields := strings.Split(args, " ")
		if out, _, err := zz(fields...); err != nil || !strings.HasPrefix(out, want) {
			t.Errorf("%q: %v\n%q", args, err, out)
		}
	}
}

// TestReadSpecStopsWithTheCommand: a spec URL that never answers is given
// up when the command's context ends (Ctrl-C), not after the 30 s bound.
func TestReadSpecStopsWithTheCommand(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := readSpec(ctx, srv.URL+"/zz.yaml", nil)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("readSpec after Ctrl-C: %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("readSpec went on after its context ended")
	}
}

// TestDeployWarnings: a mutable tag (spec.image's or a sidecar's), replicas an HPA overrides, and a
// Secret or ConfigMap the spec names that the namespace lacks are said on
// stderr; a pinned spec with its references there says nothing.
func TestDeployWarnings(t *testing.T) {
	load := func(spec string) *DeployOptions {
		t.Helper()
		l, err := appspec.DecodeLayers([]appspec.Source{{Name: "zz.yaml", Data: []byte("name: shop\nspec:\n  type: web\n" + spec)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		o := &DeployOptions{given: l.App.Clone()}
		if errs := l.Validate(); len(errs) > 0 {
			t.Fatal(errs)
		}
		o.app = l.App
		return o
	}
	for _, tt := range []struct{ spec, want string }{
		{"  image: reg/shop:latest\n", "image reg/shop:latest has a mutable tag (latest)"},
		{"  image: reg/shop\n  version: '1'\n", "image reg/shop has a mutable tag (none, so latest)"},
		{"  image: reg/shop:1\n  replicas: 7\n  hpa: {min: 2, max: 6}\n", "spec.replicas 7 is ignored: spec.hpa sets the replicas (2 to 6); raise hpa.min for more"},
		{"  image: reg/shop@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd\n  version: '1'\n", ""},
		{"  image: reg/shop:1\n  hpa: {min: 2, max: 6}\n", ""},
		{"  image: reg/shop:1\n  sidecars: [{name: a, image: 'reg/proxy:2'}, {name: b, image: 'reg/auth:latest'}]\n", "spec.sidecars[1].image reg/auth:latest has a mutable tag (latest): a deploy of the same spec changes nothing after the tag moves"},
		{"  image: reg/shop:1\n  sidecars: [{name: a, image: reg/proxy}]\n", "spec.sidecars[0].image reg/proxy has a mutable tag (none, so latest)"},
		{"  image: reg/shop:1\n  sidecars: [{name: a, image: 'reg/proxy:2'}, {name: b, image: 'reg/auth@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd'}]\n", ""},
		{"  image: reg/shop:1\n  terminationGracePeriod: 10s\n", "spec.terminationGracePeriod 10s ends within the 10s drain before SIGTERM"},
		{"  image: reg/shop:1\n  terminationGracePeriod: 10s\n  preStop: [nginx, -s, quit]\n", ""},
		// With an auth proxy in front, spec.ports still go to the app (a review).
		{"  image: reg/shop:1\n  ports: [{name: admin, port: 9000}, {name: metrics, port: 9090}]\n  sidecars: [{name: auth, image: 'reg/auth:1', ports: [{name: auth, port: 4180, front: true}]}]\n",
			"spec.ports admin, metrics go to the app directly, past sidecar auth in front of it: the Service serves them without the proxy; list in spec.ports only what needs no auth"},
		{"  image: reg/shop:1\n  sidecars: [{name: auth, image: 'reg/auth:1', ports: [{name: auth, port: 4180, front: true}]}]\n", ""},
		{"  image: reg/shop:1\n  ports: [{name: admin, port: 9000}]\n", ""},
		// Kubernetes' M is 1000², where 512Mi was meant (an app-developer
		// audit: 512M passed unsaid, 24 MiB short); a sidecar's the same.
		{"  image: reg/shop:1\n  memory: 512M\n", "spec.memory: 512M is 512 megabytes (488Mi), not 512Mi: Kubernetes' M is 1000², Mi 1024²; write 512Mi if mebibytes were meant"},
		{"  image: reg/shop:1\n  memory: 2G\n  sidecars: [{name: a, image: 'reg/proxy:2', memory: 64M}]\n", "spec.sidecars[0].memory: 64M is 64 megabytes (61Mi), not 64Mi"},
		{"  image: reg/shop:1\n  memory: 1000Mi\n  sidecars: [{name: a, image: 'reg/proxy:2', memory: 1Gi}]\n", ""},
		// A memory scratch directory counts against the memory of whoever
		// writes it: a sidecar's too (an app-developer audit: redis on /dev/shm).
		{"  image: reg/shop:1\n  memory: 1Gi\n  scratch: [{mountPath: /dev/shm, size: 512Mi, memory: true}]\n  sidecars: [{name: redis, image: 'redis:7', mounts: [/dev/shm]}]\n",
			"spec.sidecars[0].mounts[0]: /dev/shm is a 512Mi memory directory, not less than sidecar redis's memory 128Mi, which the files it writes there count against: filled by the sidecar, it would be OOM-killed first; raise spec.sidecars[0].memory above 512Mi if it writes there (one that only reads the app's files is not charged)"},
		{"  image: reg/shop:1\n  memory: 1Gi\n  scratch: [{mountPath: /dev/shm, size: 512Mi, memory: true}, {mountPath: /tmp, size: 2Gi}]\n  sidecars: [{name: redis, image: 'redis:7', memory: 768Mi, mounts: [/dev/shm, /tmp]}]\n", ""},
	} {
		got := strings.Join(load(tt.spec).specWarnings(), "\n")
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("%s: warnings %q, want %q", tt.spec, got, tt.want)
		}
		if tt.want != "" && strings.Count(got, tt.want) != 1 {
			t.Errorf("%s: %q said %d times, want once", tt.spec, tt.want, strings.Count(got, tt.want))
		}
	}
	o := load("  image: reg/shop:1\n  secretEnv: {DB: {secret: db, key: pw}, USER: {secret: db, key: user}, TOKEN: {secret: nope, key: t}}\n  envFrom: [{configMap: common}, {secret: nope}]\n  imagePullSecrets: [login]\n  secretFiles: [{secret: certs, mountPath: /etc/tls}, {secret: db, mountPath: /etc/db, keys: [pw, ca.crt]}]\n  serviceAccount: runner\n  ingress: {host: shop.example.com, tlsSecret: shop-tls}\n" +
		"  sidecars: [{name: px, image: 'reg/px:1', secretFiles: [{secret: db-sa, mountPath: /etc/sa}, {secret: db, mountPath: /etc/db, keys: [sa.json]}],\n" +
		"    secretEnv: {CLIENT_SECRET: {secret: oauth, key: cs}, DB_PW: {secret: db, key: admin}, PW: {secret: db, key: pw}}}]\n")
	c := fakeClient(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "ns-a"}, Data: map[string][]byte{"pw": []byte("x")}})
	got := o.missingRefs(t.Context(), target{namespace: "ns-a", client: c})
	want := []string{
		`secret "nope" (spec.secretEnv.TOKEN) does not exist in namespace ns-a: the pods will not start until it does (kubectl create secret ... -n ns-a)`,
		`secret "db" has no key "user" (spec.secretEnv.USER): the pods will not start until it does (kubectl get secret db -n ns-a -o yaml lists its keys)`,
		`secret "oauth" (spec.sidecars[0].secretEnv.CLIENT_SECRET) does not exist in namespace ns-a: the pods will not start until it does (kubectl create secret ... -n ns-a)`,
		`secret "db" has no key "admin" (spec.sidecars[0].secretEnv.DB_PW): the pods will not start until it does (kubectl get secret db -n ns-a -o yaml lists its keys)`,
		`configmap "common" (spec.envFrom[0]) does not exist in namespace ns-a: the pods will not start until it does (kubectl create configmap ... -n ns-a)`,
		`secret "login" (spec.imagePullSecrets[0]) does not exist in namespace ns-a: the image is pulled without it, which a private registry refuses (ErrImagePull) (kubectl create secret ... -n ns-a)`,
		`secret "certs" (spec.secretFiles[0]) does not exist in namespace ns-a: the pods will not start until it does (kubectl create secret ... -n ns-a)`,
		`secret "db" has no key "ca.crt" (spec.secretFiles[1]): the pods will not start until it does (kubectl get secret db -n ns-a -o yaml lists its keys)`,
		`secret "db-sa" (spec.sidecars[0].secretFiles[0]) does not exist in namespace ns-a: the pods will not start until it does (kubectl create secret ... -n ns-a)`,
		`secret "db" has no key "sa.json" (spec.sidecars[0].secretFiles[1]): the pods will not start until it does (kubectl get secret db -n ns-a -o yaml lists its keys)`,
		`serviceaccount "runner" (spec.serviceAccount) does not exist in namespace ns-a: no pod is created until it does (kubectl create serviceaccount ... -n ns-a)`,
		`secret "shop-tls" (spec.ingress.tlsSecret) does not exist in namespace ns-a: the ingress controller serves its default certificate until it does (cert-manager issues it when the Ingress's annotations ask) (kubectl create secret ... -n ns-a)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("missing refs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDryRunIsAManifest: --dry-run prints objects as one writes them to
// apply: no status, no empty creationTimestamp (GitOps tools showed them).
func TestDryRunIsAManifest(t *testing.T) {
	for _, output := range []string{"yaml", "json"} {
		out, err := execute(t, "deploy", "--dry-run", "-o", output, "--name", "x", "--type", "web", "--image", "reg/x:1", "--set", "spec.pdb=true", "--set", "spec.hpa={min: 1, max: 3}")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "status") || strings.Contains(out, "creationTimestamp") || !strings.Contains(out, "PodDisruptionBudget") {
			t.Errorf("-o %s:\n%s", output, out)
		}
	}
}

// TestDeployWarnsOfReplacedLists: what merging the -f files dropped from a
// list is among deploy's warnings on stderr (an audit: an overlay dropped
// the front auth proxy, exit 0 and no word).
func TestDeployWarnsOfReplacedLists(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "shop.yaml")
	prod := filepath.Join(dir, "shop-prod.yaml")
	for f, data := range map[string]string{
		base: "name: shop\nspec:\n  type: web\n  image: reg/shop:1\n  sidecars:\n  - {name: auth, image: 'reg/auth:1', ports: [{name: auth, port: 4180, front: true}]}\n  - {name: log, image: 'reg/log:1'}\n",
		prod: "spec:\n  sidecars: [{name: log, image: 'reg/log:1', memory: 256Mi}]\n",
	} {
		if err := os.WriteFile(f, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	zz := withFakeClusters(t, fakeClient(), fakeClient())
	_, stderr, err := zz("deploy", "-f", base, "-f", prod, "--dry-run")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want := "warning: " + prod + " replaces spec.sidecars of " + base + " whole: sidecar auth (front) is no longer in the spec"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

// TestDeployArgs: deploy takes its app from the spec, not an argument. A
// Helm user's deploy NAME (helm install NAME) and a kubectl user's deploy
// FILE got cobra's `unknown command "shop" for "kubectl zz deploy"` (an
// app-developer audit); each is told the form that works, nothing sent.
func TestDeployArgs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "shop.yaml")
	if err := os.WriteFile(file, []byte("name: shop\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"shop"}, `deploy takes no app name ("shop"): the spec names the app (name: shop in zz.yaml, or -f FILE); without a file: kubectl zz deploy --name shop --type TYPE --image IMAGE`},
		{[]string{file}, `deploy takes the spec with -f: kubectl zz deploy -f ` + file},
		{[]string{"prod.yml"}, `deploy takes the spec with -f: kubectl zz deploy -f prod.yml`},
		{[]string{"-f", file, "shop"}, `deploy takes no app name ("shop")`},
		{[]string{"a", "b"}, `deploy takes no argument, got 2 (a b): the spec names the app; usage: kubectl zz deploy [-f zz.yaml] [flags]`},
	} {
		root := NewCmdZZ(genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
		root.SetArgs(append([]string{"--kubeconfig", "/nonexistent", "deploy"}, tc.args...))
		if _, err := root.ExecuteC(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("deploy %v: %v\nwant %s", tc.args, err, tc.want)
		}
	}
}

// TestCompleteLogsContainersAndPods: logs -c and -E complete the
// containers of the app's pods (init and native sidecars too), --pod and
// --exclude-pod their names, as kubectl logs POD -c <TAB> does; they offered
// nothing (an app-developer audit). A name is a regex matching itself.
func TestCompleteLogsContainersAndPods(t *testing.T) {
	pod := func(name, app string, containers ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-a", Labels: map[string]string{"zz.io/app": app}},
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "migrate"}}}}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
		}
		return p
	}
	zz := withFakeClusters(t, fakeClient(pod("shop-1", "shop", "app", "log-shipper"), pod("shop-2", "shop", "app"), pod("cart-1", "cart", "cart-only")), fakeClient())
	for args, want := range map[string]string{
		"__complete logs shop -c ":            "app\nlog-shipper\nmigrate\n:4\n",
		"__complete logs shop -E ":            "app\nlog-shipper\nmigrate\n:4\n",
		"__complete logs shop --pod ":         "shop-1\nshop-2\n:4\n",
		"__complete logs shop --exclude-pod ": "shop-1\nshop-2\n:4\n",
		"__complete logs --pod ":              "cart-1\nshop-1\nshop-2\n:4\n",
	} {
		if out, _, err := zz(strings.Split(args, " ")...); err != nil || !strings.HasPrefix(out, want) {
			t.Errorf("%q: %v\n%q, want %q", args, err, out, want)
		}
	}
}

// TestHistoryGaps: a number a failed or stopped command used, and recorded
// nothing under, is said, where history showed 1, 2, 4 unexplained and
// rollback --to-revision 3 said "no revision 3 (recorded: 1 to 4)" (an
// app-developer audit; Helm lists a failed release as failed).
func TestHistoryGaps(t *testing.T) {
	now := time.Now()
	a := fakeClient(fakeDeployment("ns-a", "shop", "shop", "4", 2, 2),
		revisionSecret(t, "ns-a", "shop", 1, "1", "alice", "deploy 1", now), revisionSecret(t, "ns-a", "shop", 2, "2", "alice", "deploy 2", now),
		revisionSecret(t, "ns-a", "shop", 4, "4", "alice", "deploy 4", now), revisionSecret(t, "ns-a", "shop", 7, "7", "alice", "deploy 7", now))
	zz := withFakeClusters(t, a, fakeClient())
	const why = "a command whose rollout failed, or that was stopped, used the number and recorded nothing"
	if _, errOut, err := zz("history", "shop"); err != nil || !strings.Contains(errOut, "note: shop has no record of revisions 3, 5 and 6: "+why) {
		t.Errorf("history: %v\n%s", err, errOut)
	}
	if _, _, err := zz("history", "shop", "--revision", "5"); err == nil || !strings.Contains(err.Error(), "shop has no revision 5: "+why+"; kubectl zz history shop lists the revisions") {
		t.Errorf("history --revision 5: %v", err)
	}
	if _, _, err := zz("history", "shop", "--revision", "9"); err == nil || !strings.Contains(err.Error(), "shop has no revision 9 (recorded: 1 to 7)") {
		t.Errorf("history --revision 9: %v", err)
	}
}
