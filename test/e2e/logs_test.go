package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/cli"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/logs"
	"github.com/zzcloud/zz/internal/syncbuf"
	"github.com/zzcloud/zz/test/e2e/framework"
)

// logsApp creates a Deployment labelled as kubectl zz deploy labels an app.
func logsApp(t *testing.T, client kubernetes.Interface, ns, app string, replicas int32, containers ...string) {
	t.Helper()
	labels := map[string]string{contract.LabelApp: app}
	var cs []corev1.Container
	for _, c := range containers {
		cs = append(cs, corev1.Container{Name: c, Image: "registry.local/" + app + ":1", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
		}})
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: cs}},
		},
	}
	if _, err := client.AppsV1().Deployments(ns).Create(t.Context(), dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s: %v", app, err)
	}
}

// appendLog appends lines "<prefix><i>" for i in [from, to) to a kwok pod log
// (CRI format), so every followed container sees them.
func appendLog(t *testing.T, file, prefix string, from, to int) {
	t.Helper()
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s stdout F %s%d\n", time.Now().UTC().Format(time.RFC3339Nano), prefix, i)
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// jsonCounts counts, per source "cluster/pod/container", how many times each
// message starting with prefix was written (-o json output).
func jsonCounts(t *testing.T, out, prefix string) map[string]map[string]int {
	t.Helper()
	counts := map[string]map[string]int{}
	// The command may be writing: its output is buffered and flushed in
	// blocks, so a read can end inside a line. Only whole lines count.
	out = out[:strings.LastIndexByte(out, '\n')+1]
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			continue
		}
		var line logs.Line
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		if !strings.HasPrefix(line.Message, prefix) {
			continue
		}
		src := line.Cluster + "/" + line.Pod + "/" + line.Container
		if counts[src] == nil {
			counts[src] = map[string]int{}
		}
		counts[src][line.Message]++
	}
	return counts
}

// exactlyOnce reports what is wrong with one source's counts of the lines
// prefix0..prefix(n-1): missing or doubled lines.
func exactlyOnce(c map[string]int, prefix string, n int) string {
	var missing, doubled int
	for i := range n {
		switch c[fmt.Sprintf("%s%d", prefix, i)] {
		case 0:
			missing++
		case 1:
		default:
			doubled++
		}
	}
	if missing+doubled == 0 && len(c) == n {
		return ""
	}
	return fmt.Sprintf("%d of %d lines missing, %d doubled, %d distinct", missing, n, doubled, len(c))
}

// follower runs kubectl zz logs in process until stop.
type follower struct {
	out, errOut syncbuf.Buffer
	cancel      context.CancelFunc
	done        chan error
}

func startLogs(t *testing.T, args ...string) *follower {
	t.Helper()
	f := &follower{done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	f.cancel = cancel
	root := cli.NewCmdZZ(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &f.out, ErrOut: &f.errOut})
	root.SetArgs(append([]string{"logs"}, args...))
	go func() { f.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(cancel)
	return f
}

func (f *follower) stop(t *testing.T) {
	t.Helper()
	f.cancel()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("kubectl zz logs after Ctrl-C: %v\nstderr: %s", err, f.errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kubectl zz logs did not stop 10s after its context was cancelled")
	}
}

// attach appends sync lines until every one of the sources shows one: with
// --tail 0 a stream only sees lines appended after it opened.
func attach(t *testing.T, file string, out func() string, sources int) {
	t.Helper()
	cluster.WaitFor(t, 60*time.Second, fmt.Sprintf("%d sources attached", sources), func(ctx context.Context) (bool, string, error) {
		appendLog(t, file, "sync-", 0, 1)
		n := len(jsonCounts(t, out(), "sync-"))
		return n == sources, fmt.Sprintf("%d attached", n), nil
	})
}

// TestLogs follows two apps (3 and 2 pods, the second with two containers)
// through the real apiserver and kwok: every appended line reaches every
// container's stream exactly once, and a pod scaled up mid-run is picked up
// with its whole log.
func TestLogs(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	logsApp(t, cluster.Client, ns, "alpha", 3, "app")
	logsApp(t, cluster.Client, ns, "beta", 2, "app", "side")
	cluster.RunningPods(t, ns, contract.LabelApp+"=alpha", 3, 60*time.Second)
	cluster.RunningPods(t, ns, contract.LabelApp+"=beta", 2, 60*time.Second)
	file := cluster.PodLogFile()
	// The kwok log is shared by every pod and kept across runs, and a new
	// pod's stream starts at its beginning: prefixes are unique per run.
	one, two := ns+"-one-", ns+"-two-"

	t.Run("nothing matched fails", func(t *testing.T) {
		_, _, err := zz(t, ns, "logs", "nosuchapp", "--no-follow")
		if !errors.Is(err, logs.ErrNoMatch) {
			t.Fatalf("err = %v, want ErrNoMatch", err)
		}
	})
	// An app scaled to 0 says so, where the user was sent to check the
	// app's name and namespace (an app-developer audit).
	t.Run("an app scaled to 0 says so", func(t *testing.T) {
		logsApp(t, cluster.Client, ns, "idle", 0, "app")
		_, _, err := zz(t, ns, "logs", "idle", "--no-follow")
		if !errors.Is(err, logs.ErrNoMatch) || !strings.Contains(err.Error(), "app idle runs 0 replicas in namespace "+ns) ||
			!strings.Contains(err.Error(), "so no pod has logs: kubectl zz scale idle --replicas N starts some") {
			t.Fatalf("err = %v, want ErrNoMatch saying the app runs 0 replicas", err)
		}
	})
	// As stern: following an app with no pod yet waits for its pods, so
	// logs can start before the deploy.
	t.Run("following waits for pods", func(t *testing.T) {
		f := startLogs(t, "--kubeconfig", cluster.Kubeconfig, "-n", ns, "later", "--tail", "0", "-o", "json")
		cluster.WaitFor(t, 30*time.Second, "logs to say it waits", func(context.Context) (bool, string, error) {
			return strings.Contains(f.errOut.String(), "no pod matches yet; waiting for pods with zz.io/app=later in namespace "+ns), f.errOut.String(), nil
		})
		logsApp(t, cluster.Client, ns, "later", 1, "app")
		cluster.RunningPods(t, ns, contract.LabelApp+"=later", 1, 60*time.Second)
		attach(t, file, f.out.String, 1)
		f.stop(t)
	})

	f := startLogs(t, "--kubeconfig", cluster.Kubeconfig, "-n", ns, "-l", contract.LabelApp+" in (alpha,beta)", "--tail", "0", "-o", "json")
	attach(t, file, f.out.String, 3+2*2)

	const n = 2000
	appendLog(t, file, one, 0, n)
	cluster.WaitFor(t, 60*time.Second, "every line of batch one on 7 streams", func(ctx context.Context) (bool, string, error) {
		counts := jsonCounts(t, f.out.String(), one)
		done := 0
		for _, c := range counts {
			if len(c) == n {
				done++
			}
		}
		return done == 7, fmt.Sprintf("%d streams complete", done), nil
	})

	scale, err := cluster.Client.AppsV1().Deployments(ns).GetScale(t.Context(), "alpha", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 4
	if _, err := cluster.Client.AppsV1().Deployments(ns).UpdateScale(t.Context(), "alpha", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := cluster.RunningPods(t, ns, contract.LabelApp+"=alpha", 4, 60*time.Second)
	attach(t, file, f.out.String, 4+2*2)
	appendLog(t, file, two, 0, n)
	cluster.WaitFor(t, 60*time.Second, "every line of batch two on 8 streams", func(ctx context.Context) (bool, string, error) {
		done := 0
		for _, c := range jsonCounts(t, f.out.String(), two) {
			if len(c) == n {
				done++
			}
		}
		return done == 8, fmt.Sprintf("%d streams complete", done), nil
	})
	time.Sleep(time.Second) // let any duplicate arrive
	f.stop(t)

	out := f.out.String()
	for _, batch := range []string{one, two} {
		counts := jsonCounts(t, out, batch)
		for _, p := range pods {
			src := cluster.Name + "/" + p.Name + "/app"
			if problem := exactlyOnce(counts[src], batch, n); problem != "" {
				t.Errorf("%s %s: %s", src, batch, problem)
			}
		}
		if len(counts) != 8 {
			t.Errorf("batch %s reached %d streams, want 8 (4 alpha + 2x2 beta)", batch, len(counts))
		}
	}
}

// breakingTransport cuts the body of the first `left` log responses after
// `after` bytes, as a dropped connection would.
type breakingTransport struct {
	rt      http.RoundTripper
	after   int
	left    atomic.Int64
	resumed atomic.Int64 // log requests that carried sinceTime
}

func (b *breakingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	isLog := strings.HasSuffix(req.URL.Path, "/log")
	if isLog && req.URL.Query().Get("sinceTime") != "" {
		b.resumed.Add(1)
	}
	resp, err := b.rt.RoundTrip(req)
	if err != nil || !isLog || b.left.Add(-1) < 0 {
		return resp, err
	}
	resp.Body = &breakingBody{rc: resp.Body, left: b.after}
	return resp, nil
}

type breakingBody struct {
	rc   io.ReadCloser
	left int
}

func (b *breakingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errors.New("test: connection reset")
	}
	n, err := b.rc.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

func (b *breakingBody) Close() error { return b.rc.Close() }

// TestLogsResume breaks every stream several times, mid-line, while lines
// are appended: each reconnect (sinceTime, one-second precision, through the
// real apiserver and kwok) drops the overlap, and every line arrives once.
func TestLogsResume(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	logsApp(t, cluster.Client, ns, "gamma", 3, "app")
	cluster.RunningPods(t, ns, contract.LabelApp+"=gamma", 3, 60*time.Second)
	file := cluster.PodLogFile()

	// The first 9 log responses (3 streams, then their reconnects) break
	// after 3000 bytes.
	bt := &breakingTransport{after: 3000}
	bt.left.Store(9)
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { bt.rt = rt; return bt })
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut syncbuf.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- logs.Run(ctx, &logs.Config{
			Clusters:      []logs.Cluster{{Name: cluster.Name, Client: client, Namespaces: []string{ns}}},
			LabelSelector: contract.LabelApp + "=gamma",
			Format:        logs.Format{Output: logs.OutputJSON},
			Follow:        true, Tail: 0,
			Out: &out, ErrOut: &errOut,
		})
	}()
	attach(t, file, out.String, 3)
	const n = 3000
	r := ns + "-r-"
	for i := 0; i < n; i += 100 {
		appendLog(t, file, r, i, i+100) // ~80 bytes a line: breaks land mid-line
		time.Sleep(20 * time.Millisecond)
	}
	cluster.WaitFor(t, 90*time.Second, "every line on 3 streams", func(ctx context.Context) (bool, string, error) {
		done := 0
		counts := jsonCounts(t, out.String(), r)
		for _, c := range counts {
			if len(c) == n {
				done++
			}
		}
		return done == 3, fmt.Sprintf("%d complete, %d resumed requests", done, bt.resumed.Load()), nil
	})
	time.Sleep(time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for src, c := range jsonCounts(t, out.String(), r) {
		if problem := exactlyOnce(c, r, n); problem != "" {
			t.Errorf("%s: %s", src, problem)
		}
	}
	if bt.resumed.Load() < 3 {
		t.Errorf("only %d log requests resumed with sinceTime; the streams did not break", bt.resumed.Load())
	}
	t.Logf("%d streams resumed with sinceTime", bt.resumed.Load())
}

// TestLogsTwoContexts starts a second real cluster and follows an app in
// both through one kubeconfig with two contexts: lines of both clusters are
// merged, each tagged with its context, each once; then --no-follow
// --output-dir --gzip downloads one file per cluster/namespace/pod/container.
func TestLogsTwoContexts(t *testing.T) {
	if cluster.Kubeconfig != filepath.Join(cluster.StateDir, "kubeconfig") {
		t.Skip("the suite runs against an external cluster; this test starts a second local one beside hack's")
	}
	second := startSecondCluster(t, "logs2", "22000")
	kubeconfig := mergeKubeconfigs(t, cluster.Kubeconfig, second.Kubeconfig)

	ns := cluster.Namespace(t, nil)
	if _, err := second.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	logsApp(t, cluster.Client, ns, "delta", 2, "app")
	logsApp(t, second.Client, ns, "delta", 2, "app")
	cluster.RunningPods(t, ns, contract.LabelApp+"=delta", 2, 60*time.Second)
	second.RunningPods(t, ns, contract.LabelApp+"=delta", 2, 90*time.Second)

	f := startLogs(t, "--kubeconfig", kubeconfig, "--context", cluster.Name+",logs2", "-n", ns, "delta", "--tail", "0", "-o", "json")
	files := []string{cluster.PodLogFile(), second.PodLogFile()}
	cluster.WaitFor(t, 60*time.Second, "4 sources in 2 clusters attached", func(ctx context.Context) (bool, string, error) {
		for _, file := range files {
			appendLog(t, file, "sync-", 0, 1)
		}
		n := len(jsonCounts(t, f.out.String(), "sync-"))
		return n == 4, fmt.Sprintf("%d attached", n), nil
	})
	const n = 1000
	mc := ns + "-mc-" // the kwok logs are kept across runs
	for _, file := range files {
		appendLog(t, file, mc, 0, n)
	}
	cluster.WaitFor(t, 60*time.Second, "every line on 4 streams", func(ctx context.Context) (bool, string, error) {
		done := 0
		for _, c := range jsonCounts(t, f.out.String(), mc) {
			if len(c) == n {
				done++
			}
		}
		return done == 4, fmt.Sprintf("%d complete", done), nil
	})
	time.Sleep(time.Second)
	f.stop(t)
	perCluster := map[string]int{}
	for src, c := range jsonCounts(t, f.out.String(), mc) {
		perCluster[strings.Split(src, "/")[0]]++
		if problem := exactlyOnce(c, mc, n); problem != "" {
			t.Errorf("%s: %s", src, problem)
		}
	}
	if perCluster[cluster.Name] != 2 || perCluster["logs2"] != 2 {
		t.Errorf("sources per cluster = %v, want 2 in %s and 2 in logs2", perCluster, cluster.Name)
	}

	dir := t.TempDir()
	if _, stderr, err := zzRaw(t, "logs", "--kubeconfig", kubeconfig, "--context", cluster.Name+",logs2", "-n", ns, "delta", "--no-follow", "--output-dir", dir, "--gzip", "-o", "raw"); err != nil {
		t.Fatalf("download: %v\n%s", err, stderr)
	}
	got, err := filepath.Glob(filepath.Join(dir, "*", ns, "delta-*", "app.log.gz"))
	if err != nil || len(got) != 4 {
		t.Fatalf("files %v (%v), want 4: one per cluster/pod/container", got, err)
	}
	for _, path := range got {
		out, err := exec.Command("zcat", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		if c := strings.Count(string(out), "\n"+mc); c != n {
			t.Errorf("%s holds %d %s lines, want %d", path, c, mc, n)
		}
	}
}

// startSecondCluster runs hack/cluster-up.sh for another cluster on other
// ports and stops it when the test ends.
func startSecondCluster(t *testing.T, name, portBase string) *framework.Cluster {
	t.Helper()
	hack := func(script string) error {
		c := exec.Command(filepath.Join(cluster.Root, "hack", script))
		c.Env = append(os.Environ(), framework.EnvCluster+"="+name, "ZZ_PORT_BASE="+portBase)
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", script, err, out)
		}
		return nil
	}
	if err := hack("cluster-up.sh"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := hack("cluster-down.sh"); err != nil {
			t.Error(err)
		}
	})
	t.Setenv(framework.EnvCluster, name)
	t.Setenv(framework.EnvKubeconfig, "") // that one names the first cluster
	c, err := framework.Setup(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mergeKubeconfigs writes one kubeconfig holding the contexts of both.
func mergeKubeconfigs(t *testing.T, a, b string) string {
	t.Helper()
	merged := clientcmdapi.NewConfig()
	for _, path := range []string{a, b} {
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range cfg.Clusters {
			merged.Clusters[k] = v
		}
		for k, v := range cfg.AuthInfos {
			merged.AuthInfos[k] = v
		}
		for k, v := range cfg.Contexts {
			merged.Contexts[k] = v
		}
		if merged.CurrentContext == "" {
			merged.CurrentContext = cfg.CurrentContext
		}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*merged, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLogsPrevious: kubectl zz logs --previous reads, through the real
// apiserver and kwok, the previous run of the containers that restarted
// and of no other; with none restarted it says so. A user who may list pods
// but not read their logs gets the apiserver's refusal at once, with or
// without --no-follow, instead of a follower that prints nothing forever.
func TestLogsPrevious(t *testing.T) {
	ns := cluster.Namespace(t, nil)
	logsApp(t, cluster.Client, ns, "crashy", 2, "app")
	logsApp(t, cluster.Client, ns, "steady", 1, "app")
	pods := cluster.RunningPods(t, ns, contract.LabelApp+"=crashy", 2, 60*time.Second)
	cluster.RunningPods(t, ns, contract.LabelApp+"=steady", 1, 60*time.Second)

	// The first pod's container crash-loops, as the kubelet reports it.
	pod := &pods[0]
	crashLoop(t, cluster.Client, pod)
	crash := ns + "-crash-"
	appendLog(t, cluster.PodPreviousLogFile(), crash, 0, 5)

	cluster.WaitFor(t, 30*time.Second, "the crash in the previous run's log", func(ctx context.Context) (bool, string, error) {
		stdout, stderr, err := zz(t, ns, "logs", "crashy", "--previous", "-o", "json")
		if err != nil {
			return false, "", fmt.Errorf("%v: %s", err, stderr)
		}
		counts := jsonCounts(t, stdout, crash)
		src := cluster.Name + "/" + pod.Name + "/app"
		if len(counts) != 1 || exactlyOnce(counts[src], crash, 5) != "" {
			return false, fmt.Sprintf("%v", counts), nil
		}
		return true, "", nil
	})
	if _, _, err := zz(t, ns, "logs", "steady", "--previous"); !errors.Is(err, logs.ErrNoPrevious) {
		t.Errorf("--previous of an app that never restarted: %v, want ErrNoPrevious", err)
	}

	// --node (a field selector the apiserver applies) and --exclude-pod.
	node := pods[1].Spec.NodeName
	want := map[string]bool{}
	for _, p := range pods {
		if p.Spec.NodeName == node && p.Name != pod.Name {
			want[cluster.Name+"/"+p.Name+"/app"] = true
		}
	}
	stdout, stderr, err := zz(t, ns, "logs", "crashy", "--no-follow", "--tail", "1", "-o", "json", "--node", node, "--exclude-pod", "^"+pod.Name+"$")
	if err != nil {
		t.Fatalf("logs --node --exclude-pod: %v\n%s", err, stderr)
	}
	got := map[string]bool{}
	for src := range jsonCounts(t, stdout, "") {
		got[src] = true
	}
	if !maps.Equal(got, want) {
		t.Errorf("logs --node %s --exclude-pod %s read %v, want %v", node, pod.Name, got, want)
	}

	// --since-time: only what was logged from then on (the kubelet's
	// sinceTime, whole seconds).
	early, late := ns+"-early-", ns+"-late-"
	appendLog(t, cluster.PodLogFile(), early, 0, 1)
	time.Sleep(1100 * time.Millisecond)
	since := time.Now().UTC().Format(time.RFC3339)
	appendLog(t, cluster.PodLogFile(), late, 0, 1)
	stdout, stderr, err = zz(t, ns, "logs", "steady", "--no-follow", "--since-time", since, "-o", "json")
	if err != nil {
		t.Fatalf("logs --since-time: %v\n%s", err, stderr)
	}
	if l, e := jsonCounts(t, stdout, late), jsonCounts(t, stdout, early); len(l) != 1 || len(e) != 0 {
		t.Errorf("logs --since-time %s read %v of the later line and %v of the earlier, want the later only", since, l, e)
	}

	// A reader: pods yes, pods/log no.
	if _, err := cluster.Client.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.RbacV1().Roles(ns).Create(t.Context(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pods-only"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.RbacV1().RoleBindings(ns).Create(t.Context(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pods-only"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reader := identityWithToken(t, "reader", token(t, ns, "reader", nil))
	for _, follow := range []bool{false, true} {
		args := []string{"--kubeconfig", reader.kubeconfig, "-n", ns, "crashy"}
		if !follow {
			args = append(args, "--no-follow")
		}
		cluster.WaitFor(t, 30*time.Second, fmt.Sprintf("the reader's refusal (follow %v)", follow), func(ctx context.Context) (bool, string, error) {
			f := startLogs(t, args...)
			select {
			case err := <-f.done:
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "pods/log") {
					return false, fmt.Sprintf("err %v", err), nil // RBAC may lag the binding
				}
				return true, "", nil
			case <-time.After(15 * time.Second):
				f.cancel()
				return false, "", errors.New("kubectl zz logs without the right to read logs did not stop")
			}
		})
	}

	// A second namespace where the reader may read logs: with both named,
	// the refused one is skipped with one warning and the other is read.
	team := cluster.Namespace(t, nil)
	logsApp(t, cluster.Client, team, "crashy", 1, "app")
	teamPod := cluster.RunningPods(t, team, contract.LabelApp+"=crashy", 1, 60*time.Second)[0]
	if _, err := cluster.Client.RbacV1().Roles(team).Create(t.Context(), &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "logs"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list", "watch"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Client.RbacV1().RoleBindings(team).Create(t.Context(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "logs"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	teamSrc := cluster.Name + "/" + teamPod.Name + "/app"
	both := []string{"--kubeconfig", reader.kubeconfig, "-n", ns + "," + team, "crashy", "-o", "json"}
	mark := team + "-line-"
	cluster.WaitFor(t, 30*time.Second, "the readable namespace read, the other skipped (no follow)", func(ctx context.Context) (bool, string, error) {
		appendLog(t, cluster.PodLogFile(), mark, 0, 1)
		f := startLogs(t, append(both, "--no-follow")...)
		select {
		case err := <-f.done:
			// Both of crashy's pods are refused (the crash-looping one's
			// last run is a log too, as kubectl logs reads it): 2 of 3.
			if err == nil || err.Error() != "2 of 3 logs could not be read (the warnings above say why)" {
				return false, fmt.Sprintf("err %v, stderr %s", err, f.errOut.String()), nil // RBAC may lag the binding
			}
		case <-time.After(15 * time.Second):
			f.cancel()
			return false, "", errors.New("kubectl zz logs --no-follow did not end")
		}
		if counts := jsonCounts(t, f.out.String(), mark); len(counts) != 1 || counts[teamSrc] == nil {
			return false, fmt.Sprintf("read %v", counts), nil
		}
		if stderr := f.errOut.String(); strings.Count(stderr, "warning:") != 1 || !strings.Contains(stderr, "skipping namespace "+ns) {
			return false, "", fmt.Errorf("stderr %q, want one warning that skips namespace %s", stderr, ns)
		}
		return true, "", nil
	})
	f := startLogs(t, append(both, "--tail", "0")...)
	attach(t, cluster.PodLogFile(), f.out.String, 1)
	select {
	case err := <-f.done:
		t.Fatalf("the follower stopped although namespace %s is readable: %v", team, err)
	default:
	}
	cluster.WaitFor(t, 10*time.Second, "the follower's warning", func(ctx context.Context) (bool, string, error) {
		stderr := f.errOut.String()
		return strings.Count(stderr, "warning:") == 1 && strings.Contains(stderr, "skipping namespace "+ns), stderr, nil
	})
	f.stop(t)
}
