package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/version"
)

// This file is the one way kubectl zz reaches clusters: every command takes
// kubectl's connection flags (the root's ConfigFlags), reads --context a,b as
// a list, and gets one target per context with every other flag the user gave.

// target is one cluster (kubeconfig context) and namespace a command acts on.
type target struct {
	// context is the name given to --context; "" is the current context.
	context string
	// name is the context's name as shown in a CLUSTER column and in
	// messages: context, or the current context's name.
	name      string
	namespace string
	// flags are kubectl's flags with --context set to this one.
	flags  *genericclioptions.ConfigFlags
	client kubernetes.Interface
	// meta reads objects' metadata only (status --watch); nil: built from
	// flags when needed.
	meta metadata.Interface
}

// Client rates. A rollout wait polls a Deployment and its pods and a status
// lists several kinds per app; client-go's default of 5 QPS would throttle
// them. kubectl uses the same values.
const (
	defaultQPS   = 50
	defaultBurst = 300
)

// contexts splits --context a,b; one empty name means the current context.
func contexts(f *genericclioptions.ConfigFlags) []string {
	if f.Context == nil || *f.Context == "" {
		return []string{""}
	}
	var names []string
	for _, n := range strings.Split(*f.Context, ",") {
		// A context given twice (--context "$A,$B" with A = B) is one: a
		// change made twice failed as "superseded by another writer".
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return []string{""}
	}
	return names
}

// forContext returns kubectl's flags f with --context set to name. Every
// exported field is copied, so each flag the user gave (--kubeconfig, -n,
// --token, --user, --cluster, --server, --as, --as-group, --as-uid,
// --as-user-extra, the TLS files, --insecure-skip-tls-verify,
// --request-timeout, --cache-dir, ... and ones cli-runtime adds later)
// applies to every context, and so does WrapConfigFn (user agent, warnings).
func forContext(f *genericclioptions.ConfigFlags, name string) *genericclioptions.ConfigFlags {
	nf := genericclioptions.NewConfigFlags(true)
	src, dst := reflect.ValueOf(f).Elem(), reflect.ValueOf(nf).Elem()
	for i := range src.NumField() {
		if src.Type().Field(i).IsExported() {
			dst.Field(i).Set(src.Field(i))
		}
	}
	nf.Context = &name
	return nf
}

// resolveTargets returns one target per --context name with its namespace
// (-n, else the context's default) and, when withClient, its client.
// Contexts that reach the same cluster and namespace are one target, and a
// note on errOut names them (sameTargets).
func resolveTargets(f *genericclioptions.ConfigFlags, withClient bool, errOut io.Writer) ([]target, error) {
	targets, err := targetsFor(f, contexts(f))
	if err != nil {
		return nil, err
	}
	targets = sameTargets(targets, errOut)
	if !withClient {
		return targets, nil
	}
	for i := range targets {
		if err := targets[i].connect(defaultQPS, defaultBurst); err != nil {
			return nil, err
		}
	}
	return targets, nil
}

// sameTargets keeps the first of targets that reach the same cluster
// (server URL) and namespace, saying on errOut which it acts on once: two
// names of one cluster (a region alias, "prod" beside "prod-a") acted twice,
// and the second always failed on the first's lock, with a "run again" that
// could never work (an audit of CI use). A target whose server cannot be
// read is kept, to fail on its own.
func sameTargets(targets []target, errOut io.Writer) []target {
	seen := map[string]string{} // server and namespace: the first context's name
	out := targets[:0:0]
	for _, t := range targets {
		cfg, err := t.flags.ToRESTConfig()
		if err != nil {
			out = append(out, t)
			continue
		}
		key := strings.ToLower(strings.TrimSuffix(cfg.Host, "/")) + " " + t.namespace
		if first, ok := seen[key]; ok {
			where := "namespace " + t.namespace
			if t.namespace == metav1.NamespaceAll {
				where = "all namespaces"
			}
			fmt.Fprintf(errOut, "contexts %s and %s reach the same cluster (%s) and %s: acting once, as %s\n", first, t.name, cfg.Host, where, first)
			continue
		}
		seen[key] = t.name
		out = append(out, t)
	}
	return out
}

// targetsFor returns one target per context name, without clients.
func targetsFor(f *genericclioptions.ConfigFlags, names []string) ([]target, error) {
	targets := make([]target, 0, len(names))
	for _, name := range names {
		cf := forContext(f, name)
		loader := cf.ToRawKubeConfigLoader()
		ns, _, err := loader.Namespace()
		if err != nil {
			return nil, contextErr(name, err)
		}
		t := target{context: name, name: name, namespace: ns, flags: cf}
		if name == "" {
			if raw, err := loader.RawConfig(); err == nil {
				t.name = raw.CurrentContext
			}
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// connect builds the target's client with the given rate limits.
func (t *target) connect(qps float32, burst int) error {
	cfg, err := t.flags.ToRESTConfig()
	if err != nil {
		return contextErr(t.context, err)
	}
	if err := noCluster(t.flags, cfg); err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = qps, burst
	if t.client, err = newClientset(cfg); err != nil {
		return contextErr(t.context, err)
	}
	return nil
}

// absent is err, where it says that nothing was found in t's namespace,
// with why: the namespace does not exist (deploy.InAbsentNamespace).
func (t target) absent(ctx context.Context, err error) error {
	if err == nil || t.client == nil {
		return err
	}
	return deploy.InAbsentNamespace(ctx, t.client, t.namespace, err)
}

// noCluster says why cfg reaches no cluster where client-go fell back to
// its default server (http://localhost:8080) because the kubeconfig names
// none: no kubeconfig file (KUBECONFIG unset or naming files that do not
// exist, no ~/.kube/config), or one with no current context. kubectl then
// says only that localhost:8080 refused the connection, and "did you
// specify the right host or port?" (a new user's audit).
func noCluster(f *genericclioptions.ConfigFlags, cfg *rest.Config) error {
	if strings.TrimSuffix(cfg.Host, "/") != clientcmd.ClusterDefaults.Server || f.APIServer != nil && *f.APIServer != "" {
		return nil
	}
	loader := f.ToRawKubeConfigLoader()
	raw, err := loader.RawConfig()
	if err != nil || raw.CurrentContext != "" || f.Context != nil && *f.Context != "" {
		return nil
	}
	if u, err := url.Parse(cfg.Host); err == nil {
		// Something listens there (a kubectl proxy --port 8080): used, as kubectl does.
		if conn, err := dialDefaultServer("tcp", u.Host, time.Second); err == nil {
			conn.Close()
			return nil
		}
	}
	files := loader.ConfigAccess().GetLoadingPrecedence()
	var why string
	switch {
	case len(raw.Clusters) > 0:
		why = fmt.Sprintf("the kubeconfig (%s) sets no current context: run kubectl config use-context NAME, or pass --context NAME", strings.Join(files, ", "))
	case os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "":
		why = fmt.Sprintf("no kubeconfig: KUBECONFIG names no file that exists (%s); set it to your cluster's kubeconfig, or pass --kubeconfig FILE", strings.Join(files, ", "))
	default:
		why = fmt.Sprintf("no kubeconfig: KUBECONFIG is unset and %s does not exist; set KUBECONFIG to your cluster's kubeconfig, or pass --kubeconfig FILE", strings.Join(files, ", "))
	}
	return fmt.Errorf("%s (with none, kubectl tries %s, where nothing answers)", why, clientcmd.ClusterDefaults.Server)
}

// dialDefaultServer tries client-go's default server; tests swap it.
var dialDefaultServer = net.DialTimeout

// asNode is the target's client acting as node: impersonating its user
// (system:node:NAME, group system:nodes), as kubectl --as does. kubectl zz
// check probes NodeRestriction with it (clustercheck.AsNode).
func (t *target) asNode(node string) (kubernetes.Interface, error) {
	cfg, err := t.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:node:" + node, Groups: []string{"system:nodes", "system:authenticated"}}
	return newClientset(cfg)
}

// probeWebhook creates pod in ns as a server-side dry run with the target's
// credentials, keeping the apiserver's warnings instead of printing them:
// the zz webhook's answer to kubectl zz check's probe is one
// (clustercheck.ProbeWebhook).
func (t *target) probeWebhook(ctx context.Context, ns string, pod *corev1.Pod) ([]string, error) {
	cfg, err := t.flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	kept := &keptWarnings{}
	cfg.WarningHandler = kept
	c, err := newClientset(cfg)
	if err != nil {
		return nil, err
	}
	_, err = c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	kept.mu.Lock()
	defer kept.mu.Unlock()
	return kept.texts, err
}

// keptWarnings is a rest.WarningHandler that keeps the warnings' texts.
type keptWarnings struct {
	mu    sync.Mutex
	texts []string
}

func (k *keptWarnings) HandleWarningHeader(_ int, _ string, text string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.texts = append(k.texts, text)
}

// newClientset builds a target's client; unit tests swap it for fake
// clientsets keyed by cfg.Host.
var newClientset = func(cfg *rest.Config) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(cfg)
}

// userAgent is what kubectl zz sends, so audit logs and apiserver metrics
// tell it from kubectl.
func userAgent() string {
	return "kubectl-zz/" + version.Get().GitVersion
}

// clientDefaults is the root's WrapConfigFn: the user agent and kubectl's
// warning handler (each distinct apiserver warning once, on errOut, in
// colour on a terminal), for every client of every command.
func clientDefaults(errOut io.Writer) func(*rest.Config) *rest.Config {
	warnings := rest.NewWarningWriter(errOut, rest.WarningWriterOptions{
		Deduplicate: true,
		Color:       printers.AllowsColorOutput(errOut),
	})
	return func(c *rest.Config) *rest.Config {
		c.UserAgent = userAgent()
		c.WarningHandler = warnings
		return c
	}
}

func contextErr(name string, err error) error {
	if name == "" {
		return err
	}
	return fmt.Errorf("context %s: %w", name, err)
}

// allNamespacesErr is err of a read of every namespace (-A) that the
// user's role refused cluster-wide (a namespace's edit user), with what to
// run instead, as gpu says it; err otherwise.
func allNamespacesErr(err error, all bool, command, ns string) error {
	if !all || !apierrors.IsForbidden(err) {
		return err
	}
	return fmt.Errorf("%w; -A reads every namespace, which a namespace's role does not allow: drop -A (kubectl zz %s -n %s) for the namespace you may read", err, command, ns)
}

// prefixWriter prefixes every write (one line each, as the progress printer
// writes) with the target's name, serialising concurrent targets.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}

// forEach runs fn for every target, concurrently when there are several, and
// joins the failures into one error naming each failed context. A target's
// "not found" says when its namespace does not exist (t.absent).
func forEach(ctx context.Context, targets []target, errOut io.Writer, fn func(t target, progress io.Writer, live bool) error) error {
	if len(targets) == 1 {
		return targets[0].absent(ctx, fn(targets[0], errOut, isTerminal(errOut)))
	}
	var mu sync.Mutex
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			if err := t.absent(ctx, fn(t, &prefixWriter{mu: &mu, w: errOut, prefix: "[" + t.name + "] "}, false)); err != nil {
				errs[i] = fmt.Errorf("context %s: %w", t.name, err)
			}
		})
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("failed in %d of %d contexts:\n%w", failed, len(targets), errors.Join(errs...))
}

// oneTarget resolves --context for a command that changes one cluster
// (what names it in the error when several are given).
func oneTarget(f *genericclioptions.ConfigFlags, what string) (target, error) {
	targets, err := resolveTargets(f, true, io.Discard)
	if err != nil {
		return target{}, err
	}
	if len(targets) != 1 {
		return target{}, fmt.Errorf("%s works on one cluster at a time; give one --context", what)
	}
	return targets[0], nil
}
