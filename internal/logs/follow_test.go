package logs

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/syncbuf"
)

// fakeKubelet serves container logs as the kubelet does: CRI-timestamped
// lines from sinceTime (cut to whole seconds by the API) or the last
// tailLines, then, when following, new lines as they are appended. A stream
// can be told to break after some lines.
type fakeKubelet struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every append
	logs    map[string][]string
	breaks  map[string]int // key -> break the next stream after this many lines
	opens   map[string][]*corev1.PodLogOptions
	active  map[string]int // streams open now
	next    time.Time
}

func newFakeKubelet() *fakeKubelet {
	return &fakeKubelet{changed: make(chan struct{}), logs: map[string][]string{}, breaks: map[string]int{}, opens: map[string][]*corev1.PodLogOptions{}, active: map[string]int{}, next: t0}
}

// add appends n lines to a container's log; three lines share each
// timestamp, and lines step 400ms, so several share a second.
func (k *fakeKubelet) add(key string, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for range n {
		i := len(k.logs[key])
		if i%3 == 0 {
			k.next = k.next.Add(400 * time.Millisecond)
		}
		k.logs[key] = append(k.logs[key], k.next.Format(time.RFC3339Nano)+" "+key+" line "+fmt.Sprint(i))
	}
	close(k.changed)
	k.changed = make(chan struct{})
}

func (k *fakeKubelet) open(ctx context.Context, c *Cluster, t Target, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	key := c.Name + "/" + t.Key()
	k.mu.Lock()
	k.opens[key] = append(k.opens[key], opts.DeepCopy())
	breakAfter, breaks := k.breaks[key]
	delete(k.breaks, key)
	k.active[key]++
	k.mu.Unlock()
	pr, pw := io.Pipe()
	go func() {
		defer func() {
			k.mu.Lock()
			k.active[key]--
			k.mu.Unlock()
		}()
		sent, pos := 0, 0
		if opts.TailLines != nil {
			k.mu.Lock()
			pos = max(0, len(k.logs[key])-int(*opts.TailLines))
			k.mu.Unlock()
		}
		for {
			k.mu.Lock()
			lines, changed := k.logs[key][pos:], k.changed
			k.mu.Unlock()
			for _, l := range lines {
				pos++
				ts, _ := time.Parse(time.RFC3339Nano, l[:strings.IndexByte(l, ' ')])
				if opts.SinceTime != nil && ts.Before(opts.SinceTime.Truncate(time.Second)) {
					continue
				}
				if breaks && sent == breakAfter {
					io.WriteString(pw, l[:len(l)/2]) // cut inside a line
					pw.CloseWithError(io.ErrUnexpectedEOF)
					return
				}
				if _, err := io.WriteString(pw, l+"\n"); err != nil {
					return
				}
				sent++
			}
			if !opts.Follow {
				pw.Close()
				return
			}
			select {
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			case <-changed:
			}
		}
	}()
	return pr, nil
}

func (k *fakeKubelet) openCount(key string) []*corev1.PodLogOptions {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.opens[key])
}

func appPod(name string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{contract.LabelApp: "shop"}}}
	for _, c := range containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, running(c, "cri://"+name+"-"+c))
	}
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunFollows follows two clusters: a stream that breaks mid-line resumes
// with sinceTime and writes every line exactly once, a pod created mid-run is
// picked up, and a deleted pod's stream ends.
func TestRunFollows(t *testing.T) {
	k := newFakeKubelet()
	east := fake.NewClientset(appPod("shop-a", "app"))
	west := fake.NewClientset(appPod("shop-w", "app"))
	k.add("east/ns/shop-a/app", 9)
	k.add("west/ns/shop-w/app", 3)
	k.breaks["east/ns/shop-a/app"] = 5
	var out, errOut syncbuf.Buffer
	cfg := &Config{
		Clusters:      []Cluster{{Name: "east", Client: east, Namespaces: []string{"ns"}}, {Name: "west", Client: west, Namespaces: []string{"ns"}}},
		LabelSelector: contract.LabelApp + "=shop",
		Format:        Format{Output: OutputText, ShowCluster: true},
		Follow:        true,
		Tail:          -1,
		Out:           &out, ErrOut: &errOut,
		OpenStream: k.open,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()

	count := func(prefix string) int { return strings.Count(out.String(), prefix) }
	waitFor(t, "9 lines of shop-a after its stream broke", func() bool { return count("east/shop-a/app ") == 9 })
	opens := k.openCount("east/ns/shop-a/app")
	if len(opens) != 2 || opens[1].SinceTime == nil || !opens[1].Timestamps {
		t.Fatalf("want a second request with sinceTime and timestamps, got %d requests", len(opens))
	}

	k.add("east/ns/shop-a/app", 4)
	if _, err := east.CoreV1().Pods("ns").Create(ctx, appPod("shop-b", "app", "sidecar"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.add("east/ns/shop-b/app", 2)
	k.add("east/ns/shop-b/sidecar", 2)
	waitFor(t, "lines of the new pod and new lines", func() bool {
		return count("east/shop-a/app ") == 13 && count("east/shop-b/app ") == 2 && count("east/shop-b/sidecar ") == 2 && count("west/shop-w/app ") == 3
	})

	// Every line once, in order per source.
	for _, key := range []string{"east/ns/shop-a/app", "east/ns/shop-b/app", "west/ns/shop-w/app"} {
		var want []string
		for _, l := range k.logs[key] {
			want = append(want, l[strings.IndexByte(l, ' ')+1:])
		}
		var got []string
		parts := strings.Split(key, "/")
		for _, l := range strings.Split(out.String(), "\n") {
			if p, msg, ok := strings.Cut(l, " "); ok && p == parts[0]+"/"+parts[2]+"/"+parts[3] {
				got = append(got, msg)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %q\nwant %q", key, got, want)
		}
	}

	if err := east.CoreV1().Pods("ns").Delete(ctx, "shop-b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted pod's streams to end", func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.active["east/ns/shop-b/app"] == 0 && k.active["east/ns/shop-b/sidecar"] == 0 && k.active["east/ns/shop-a/app"] == 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil (clean Ctrl-C)", err)
	}
}

// TestRunNoMatch: with nothing matched, --no-follow fails at once; a
// follower (an app scaled to 0, or not deployed yet) says once on stderr what
// it waits for, keeps watching and follows the pods that appear.
func TestRunNoMatch(t *testing.T) {
	tests := []struct {
		name     string
		clusters []Cluster
		label    string
		pod      string
		wantNote string
	}{
		{"pod regex, one namespace", []Cluster{{Name: "east", Namespaces: []string{"ns"}}}, "", "^cart-",
			"no pod matches yet; waiting for pods named ^cart- in namespace ns of context east (Ctrl-C to stop)\n"},
		{"app scaled to 0, current context", []Cluster{{Namespaces: []string{"ns"}}}, contract.LabelApp + "=cart", "",
			"no pod matches yet; waiting for pods with " + contract.LabelApp + "=cart in namespace ns (Ctrl-C to stop)\n"},
		{"two contexts, every namespace", []Cluster{{Name: "east", Namespaces: []string{metav1.NamespaceAll}}, {Name: "west", Namespaces: []string{metav1.NamespaceAll}}}, contract.LabelApp + "=cart", "",
			"no pod matches yet; waiting for pods with " + contract.LabelApp + "=cart in every namespace of contexts east, west (Ctrl-C to stop)\n"},
		{"two contexts, their namespaces", []Cluster{{Name: "east", Namespaces: []string{"ns", "b"}}, {Name: "west", Namespaces: []string{"ns"}}}, "", "^cart-",
			"no pod matches yet; waiting for pods named ^cart- in namespaces ns, b of context east; namespace ns of context west (Ctrl-C to stop)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			newCfg := func(follow bool, out, errOut io.Writer, k *fakeKubelet) (*Config, *fake.Clientset) {
				// Their namespaces exist (TestRunAppScaledToZero: one that does not).
				namespaces := []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b"}}}
				first := fake.NewClientset(append(namespaces, appPod("shop-a", "app"))...) // matches neither the label nor the regex
				clusters := slices.Clone(tc.clusters)
				for i := range clusters {
					if i == 0 {
						clusters[i].Client = first
					} else {
						clusters[i].Client = fake.NewClientset(namespaces...)
					}
				}
				cfg := &Config{
					Clusters: clusters, LabelSelector: tc.label, Format: Format{Output: OutputRaw},
					Follow: follow, Tail: -1, Out: out, ErrOut: errOut, OpenStream: k.open,
				}
				if tc.pod != "" {
					cfg.Selector.Pod = mustRe(t, tc.pod)
				}
				return cfg, first
			}

			cfg, _ := newCfg(false, io.Discard, io.Discard, newFakeKubelet())
			if err := Run(t.Context(), cfg); err != ErrNoMatch {
				t.Fatalf("--no-follow: Run = %v, want ErrNoMatch", err)
			}

			k := newFakeKubelet()
			var out, errOut syncbuf.Buffer
			cfg, client := newCfg(true, &out, &errOut, k)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- Run(ctx, cfg) }()
			waitFor(t, "the note that it waits", func() bool { return errOut.String() != "" })
			if got := errOut.String(); got != tc.wantNote {
				t.Errorf("stderr %q, want %q", got, tc.wantNote)
			}
			select {
			case err := <-done:
				t.Fatalf("a follower with no pod matched stopped: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
			// The app is deployed: its pod is followed as any.
			cart := appPod("cart-1", "app")
			cart.Namespace, cart.Labels[contract.LabelApp] = "ns", "cart"
			if _, err := client.CoreV1().Pods("ns").Create(ctx, cart, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			key := cfg.Clusters[0].Name + "/ns/cart-1/app"
			k.add(key, 3)
			waitFor(t, "the new pod's 3 lines", func() bool { return strings.Count(out.String(), "\n") == 3 })
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run after Ctrl-C = %v, want nil", err)
			}
			if strings.Count(errOut.String(), "no pod matches yet") != 1 {
				t.Errorf("stderr %q, want the note once", errOut.String())
			}
		})
	}
}

// TestRunContainerFilterMatchesNone: pods matched but -c or
// --exclude-container leaves none of their containers: --no-follow fails
// naming the filter and the containers the pods have (as kubectl logs -c
// nosuch fails) instead of saying nothing has started; a follower warns and
// follows a pod that has one when it appears.
func TestRunContainerFilterMatchesNone(t *testing.T) {
	pendingWithSpec := appPod("shop-p") // not started: its containers are known from its spec
	pendingWithSpec.Spec.Containers = []corev1.Container{{Name: "app"}, {Name: "log-agent"}}
	unscheduled := appPod("shop-u") // neither spec (as the informer keeps it) nor status
	tests := []struct {
		name             string
		pods             []runtime.Object
		container, exclu string
		wantErr          string // --no-follow; "" for success
		wantLines        int
		wantStderr       string
	}{
		{name: "-c matches none", pods: []runtime.Object{appPod("shop-a", "app", "log-agent"), appPod("shop-b", "app", "log-agent")}, container: "nosuch",
			wantErr: "-c nosuch matched no container of the 2 pods (their containers: app, log-agent)"},
		{name: "--exclude-container leaves none", pods: []runtime.Object{appPod("shop-a", "app")}, exclu: ".*",
			wantErr: "--exclude-container '.*' matched no container of the 1 pod (their containers: app)"},
		{name: "both leave none", pods: []runtime.Object{appPod("shop-a", "app", "log-agent"), appPod("shop-b", "app", "side")}, container: "^(app|side)$", exclu: "app|side",
			wantErr: "-c '^(app|side)$' --exclude-container 'app|side' matched no container of the 2 pods (their containers: app, log-agent, side)"},
		{name: "not started, spec known", pods: []runtime.Object{pendingWithSpec}, container: "nosuch",
			wantErr: "-c nosuch matched no container of the 1 pod (their containers: app, log-agent)"},
		{name: "one pod has it", pods: []runtime.Object{appPod("shop-a", "app"), appPod("shop-b", "app", "log-agent")}, container: "log-agent",
			wantLines: 2},
		{name: "not scheduled: nothing to tell", pods: []runtime.Object{unscheduled}, container: "nosuch",
			wantStderr: "note: context east: pod ns/shop-u: Pending: not scheduled yet\n1 pod matched, but no selected container has run yet"},
		{name: "one not scheduled: it might have it", pods: []runtime.Object{unscheduled, appPod("shop-a", "app")}, container: "nosuch",
			wantStderr: "note: context east: pod ns/shop-u: Pending: not scheduled yet\n2 pods matched, but no selected container has run yet"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKubelet()
			k.add("east/ns/shop-b/log-agent", 2)
			client := fake.NewClientset(tc.pods...)
			out, errOut := &syncbuf.Buffer{}, &syncbuf.Buffer{}
			cfg := &Config{
				Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns"}}},
				Format:   Format{Output: OutputRaw}, Tail: -1, Out: out, ErrOut: errOut, OpenStream: k.open,
			}
			if tc.container != "" {
				cfg.Selector.Container = mustRe(t, tc.container)
			}
			if tc.exclu != "" {
				cfg.Selector.ExcludeContainer = mustRe(t, tc.exclu)
			}
			err := Run(t.Context(), cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("--no-follow: Run = %v, want nil", err)
			case tc.wantErr != "" && (!errors.Is(err, ErrNoContainer) || err.Error() != tc.wantErr):
				t.Fatalf("--no-follow: Run = %v, want ErrNoContainer %q", err, tc.wantErr)
			}
			if n := strings.Count(out.String(), "\n"); n != tc.wantLines {
				t.Errorf("--no-follow: %d lines, want %d", n, tc.wantLines)
			}
			if !strings.Contains(errOut.String(), tc.wantStderr) || (tc.wantStderr == "" && errOut.String() != "") {
				t.Errorf("--no-follow: stderr %q, want %q", errOut.String(), tc.wantStderr)
			}
			if tc.wantErr == "" || tc.name == "not started, spec known" {
				return // the informer's pods carry no spec
			}

			// Following, the same is a warning, and a pod that has the
			// container is followed when it appears.
			out, errOut = &syncbuf.Buffer{}, &syncbuf.Buffer{}
			cfg.Out, cfg.ErrOut, cfg.Follow = out, errOut, true
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- Run(ctx, cfg) }()
			wantWarning := "warning: " + tc.wantErr + "; waiting for pods that have one (Ctrl-C to stop)\n"
			waitFor(t, "the warning", func() bool { return errOut.String() != "" })
			if got := errOut.String(); got != wantWarning {
				t.Errorf("follow: stderr %q, want %q", got, wantWarning)
			}
			if cfg.Selector.ExcludeContainer != nil && cfg.Selector.ExcludeContainer.String() == ".*" {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("follow: Run after Ctrl-C = %v", err)
				}
				return
			}
			if _, err := client.CoreV1().Pods("ns").Create(ctx, appPod("shop-n", "nosuch", "app"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			k.add("east/ns/shop-n/nosuch", 2)
			k.add("east/ns/shop-n/app", 2)
			want := 2
			if tc.container != "nosuch" {
				want = 0
			}
			if want > 0 {
				waitFor(t, "the new pod's container", func() bool { return strings.Count(out.String(), "\n") == want })
			}
			time.Sleep(100 * time.Millisecond)
			cancel()
			if err := <-done; err != nil {
				t.Errorf("follow: Run after Ctrl-C = %v", err)
			}
			if got := out.String(); strings.Count(got, "\n") != want || strings.Contains(got, "shop-n/app") {
				t.Errorf("follow: out %q, want %d lines of shop-n/nosuch", got, want)
			}
		})
	}
}

// TestRunOutputDirCapAndTail dumps two pods without following into gzip
// files, one stream at a time: the cap message shows and every file holds
// the last --tail lines.
func TestRunOutputDirCapAndTail(t *testing.T) {
	k := newFakeKubelet()
	k.add("east/ns/shop-a/app", 10)
	k.add("east/ns/shop-b/app", 10)
	dir := t.TempDir()
	var errOut syncbuf.Buffer
	// Streams open only once the cap has held one back (or after 10 s), so
	// the first cannot end before the second asks for its slot.
	held := make(chan struct{})
	go func() {
		defer close(held)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if strings.Contains(errOut.String(), "--max-streams") {
				return
			}
		}
	}()
	open := func(ctx context.Context, c *Cluster, tg Target, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return k.open(ctx, c, tg, opts)
	}
	cfg := &Config{
		Clusters:   []Cluster{{Name: "east", Client: fake.NewClientset(appPod("shop-a", "app"), appPod("shop-b", "app")), Namespaces: []string{"ns"}}},
		Format:     Format{Output: OutputRaw},
		Tail:       4,
		MaxStreams: 1,
		OutputDir:  dir, Gzip: true,
		Out: io.Discard, ErrOut: &errOut, OpenStream: open,
	}
	if err := Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "--max-streams") {
		t.Errorf("no cap message on stderr: %q", errOut.String())
	}
	for _, pod := range []string{"shop-a", "shop-b"} {
		f, err := os.Open(filepath.Join(dir, "east", "ns", pod, "app.log.gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := "east/ns/" + pod + "/app line 6\neast/ns/" + pod + "/app line 7\neast/ns/" + pod + "/app line 8\neast/ns/" + pod + "/app line 9\n"
		if string(b) != want {
			t.Errorf("%s: got %q, want %q", pod, b, want)
		}
	}
}

// TestRunCompletedPodPrintedOnce: a pod whose container has ended is read to
// the end once; later updates of the pod do not print its log again.
func TestRunCompletedPodPrintedOnce(t *testing.T) {
	k := newFakeKubelet()
	k.add("east/ns/job-1/main", 5)
	pod := appPod("job-1")
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", ContainerID: "cri://job-1-main",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, ContainerID: "cri://job-1-main"}}}}
	client := fake.NewClientset(pod)
	var out syncbuf.Buffer
	cfg := &Config{
		Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns"}}},
		Format:   Format{Output: OutputRaw}, Follow: true, Tail: -1,
		Out: &out, ErrOut: io.Discard, OpenStream: k.open,
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	waitFor(t, "the completed pod's 5 lines", func() bool { return strings.Count(out.String(), "\n") == 5 })
	for i := range 3 {
		pod.Annotations = map[string]string{"touch": fmt.Sprint(i)}
		if _, err := client.CoreV1().Pods("ns").Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 5 || len(k.openCount("east/ns/job-1/main")) != 1 {
		t.Fatalf("%d lines from %d requests, want 5 lines from 1 request:\n%s", n, len(k.openCount("east/ns/job-1/main")), out.String())
	}
}

// TestRunPrevious: --previous reads the run before the current one of the
// containers that restarted, asking the kubelet for it (previous=true), into
// its own --output-dir file; with none restarted it says so.
func TestRunPrevious(t *testing.T) {
	k := newFakeKubelet()
	k.add("east/ns/shop-a/app", 3) // the fake serves the same log either way
	crashed := appPod("shop-a", "app")
	crashed.Status.ContainerStatuses[0].RestartCount = 4
	crashed.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 2, ContainerID: "cri://shop-a-app-3"}
	dir := t.TempDir()
	var errOut syncbuf.Buffer
	cfg := &Config{
		Clusters: []Cluster{{Name: "east", Client: fake.NewClientset(crashed, appPod("shop-b", "app")), Namespaces: []string{"ns"}}},
		Selector: Selector{Previous: true}, Format: Format{Output: OutputRaw}, Tail: 2, OutputDir: dir,
		Out: io.Discard, ErrOut: &errOut, OpenStream: k.open,
	}
	if err := Run(t.Context(), cfg); err != nil {
		t.Fatalf("Run = %v; stderr %q", err, errOut.String())
	}
	opens := k.openCount("east/ns/shop-a/app")
	if len(opens) != 1 || !opens[0].Previous || opens[0].Follow || opens[0].TailLines == nil || *opens[0].TailLines != 2 {
		t.Fatalf("opens of shop-a = %+v, want one previous=true, tailLines=2", opens)
	}
	if n := len(k.openCount("east/ns/shop-b/app")); n != 0 {
		t.Errorf("shop-b never restarted, yet %d log requests", n)
	}
	b, err := os.ReadFile(filepath.Join(dir, "east", "ns", "shop-a", "app.previous.log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "east/ns/shop-a/app line 1\neast/ns/shop-a/app line 2\n"; string(b) != want {
		t.Errorf("app.previous.log = %q, want %q", b, want)
	}

	cfg.Clusters[0].Client, cfg.OutputDir = fake.NewClientset(appPod("shop-b", "app")), ""
	if err := Run(t.Context(), cfg); !errors.Is(err, ErrNoPrevious) || !strings.Contains(err.Error(), "(1 pod matched)") {
		t.Errorf("Run with nothing restarted = %v, want ErrNoPrevious", err)
	}
}

// TestRunNothingStarted: --no-follow of pods whose containers have not
// started prints nothing and succeeds (stern's way), with a note on stderr
// so that empty output does not read as empty logs.
func TestRunNothingStarted(t *testing.T) {
	pending := appPod("shop-a")
	pending.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
	var out, errOut syncbuf.Buffer
	cfg := &Config{
		Clusters: []Cluster{{Client: fake.NewClientset(pending), Namespaces: []string{"ns"}}},
		Format:   Format{Output: OutputRaw}, Out: &out, ErrOut: &errOut, OpenStream: newFakeKubelet().open,
	}
	if err := Run(t.Context(), cfg); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if want := "note: pod ns/shop-a: Pending: not scheduled yet\n1 pod matched, but no selected container has run yet"; out.String() != "" || !strings.Contains(errOut.String(), want) {
		t.Errorf("stdout %q, stderr %q: want nothing, and a note that nothing has started", out.String(), errOut.String())
	}
}

// TestRunUnreadable: a log the kubelet refuses is a warning and a failed
// run, with what could be read still printed; a pod gone meanwhile is only a
// note; no right to read logs stops a follower at once instead of retrying
// in silence.
func TestRunUnreadable(t *testing.T) {
	k := newFakeKubelet()
	k.add("east/ns/shop-a/app", 2)
	refuse := map[string]error{
		"shop-b": apierrors.NewBadRequest(`container "app" in pod "shop-b" is waiting to start: ContainerCreating`),
		"shop-c": apierrors.NewNotFound(corev1.Resource("pods"), "shop-c"),
	}
	open := func(ctx context.Context, c *Cluster, tg Target, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
		if err := refuse[tg.Pod]; err != nil {
			return nil, err
		}
		return k.open(ctx, c, tg, opts)
	}
	var out, errOut syncbuf.Buffer
	cfg := &Config{
		Clusters: []Cluster{{Name: "east", Client: fake.NewClientset(appPod("shop-a", "app"), appPod("shop-b", "app"), appPod("shop-c", "app")), Namespaces: []string{"ns"}}},
		Format:   Format{Output: OutputRaw}, Tail: -1, Out: &out, ErrOut: &errOut, OpenStream: open,
	}
	err := Run(t.Context(), cfg)
	if err == nil || err.Error() != "1 of 3 logs could not be read (the warnings above say why)" {
		t.Errorf("Run = %v", err)
	}
	if got := out.String(); got != "east/ns/shop-a/app line 0\neast/ns/shop-a/app line 1\n" {
		t.Errorf("out = %q", got)
	}
	for _, want := range []string{`warning: context east: pod ns/shop-b container app: container "app" in pod "shop-b" is waiting to start`,
		`note: context east: pod ns/shop-c container app: pods "shop-c" not found`} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr %q lacks %q", errOut.String(), want)
		}
	}

	forbidden := apierrors.NewForbidden(corev1.Resource("pods/log"), "shop-a", errors.New(`User "dev" cannot get resource "pods/log"`))
	cfg.Follow, cfg.OpenStream = true, func(context.Context, *Cluster, Target, *corev1.PodLogOptions) (io.ReadCloser, error) {
		return nil, forbidden
	}
	done := make(chan error, 1)
	go func() { done <- Run(t.Context(), cfg) }()
	select {
	case err := <-done:
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "kubectl zz logs needs get on pods/log") {
			t.Errorf("Run = %v, want the Forbidden error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a follower without the right to read logs did not stop")
	}
}

// TestRunRefusedNamespace: with several namespaces (-n a,b, -A), one whose
// logs or pods the user may not read is skipped with one warning and the
// others are read; --no-follow then fails at the end, a follower goes on;
// when every selected namespace is refused, the refusal stops Run.
func TestRunRefusedNamespace(t *testing.T) {
	inNS := func(p *corev1.Pod, ns string) *corev1.Pod { p.Namespace = ns; return p }
	pods := func() []runtime.Object {
		return []runtime.Object{appPod("shop-a", "app"), appPod("shop-b", "app"), inNS(appPod("shop-t", "app"), "team")}
	}
	k := newFakeKubelet()
	k.add("east/team/shop-t/app", 2)
	forbidden := func(ns string) error {
		return apierrors.NewForbidden(corev1.Resource("pods/log"), "x", fmt.Errorf(`User "dev" cannot get resource "pods/log" in the namespace %q`, ns))
	}
	var opensInNS atomic.Int64
	open := func(ctx context.Context, c *Cluster, tg Target, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
		if tg.Namespace == "ns" {
			opensInNS.Add(1)
			return nil, forbidden(tg.Namespace)
		}
		return k.open(ctx, c, tg, opts)
	}
	for _, namespaces := range [][]string{{"ns", "team"}, {metav1.NamespaceAll}} {
		t.Run(fmt.Sprintf("no-follow %q", namespaces), func(t *testing.T) {
			var out, errOut syncbuf.Buffer
			cfg := &Config{
				Clusters: []Cluster{{Name: "east", Client: fake.NewClientset(pods()...), Namespaces: namespaces}},
				Format:   Format{Output: OutputRaw}, Tail: -1, Out: &out, ErrOut: &errOut, OpenStream: open,
			}
			err := Run(t.Context(), cfg)
			if err == nil || err.Error() != "2 of 3 logs could not be read (the warnings above say why)" {
				t.Errorf("Run = %v", err)
			}
			if got := out.String(); got != "east/team/shop-t/app line 0\neast/team/shop-t/app line 1\n" {
				t.Errorf("out = %q", got)
			}
			if n := strings.Count(errOut.String(), "warning:"); n != 1 || !strings.Contains(errOut.String(), "needs get on pods/log") || !strings.Contains(errOut.String(), "skipping namespace ns") {
				t.Errorf("stderr %q, want one warning that skips namespace ns", errOut.String())
			}
		})
	}

	t.Run("follow", func(t *testing.T) {
		opensInNS.Store(0)
		var out, errOut syncbuf.Buffer
		client := fake.NewClientset(pods()...)
		cfg := &Config{
			Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns", "team"}}},
			Format:   Format{Output: OutputRaw}, Tail: -1, Follow: true, Out: &out, ErrOut: &errOut, OpenStream: open,
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, cfg) }()
		waitFor(t, "the team's lines", func() bool { return strings.Count(out.String(), "\n") == 2 })
		// A pod new in the refused namespace is not asked for again.
		if _, err := client.CoreV1().Pods("ns").Create(t.Context(), appPod("shop-c", "app"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		k.add("east/team/shop-t/app", 1)
		waitFor(t, "the team's next line", func() bool { return strings.Count(out.String(), "\n") == 3 })
		time.Sleep(100 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("Run stopped with %v although namespace team is readable", err)
		default:
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after Ctrl-C = %v", err)
		}
		if n := opensInNS.Load(); n > 2 {
			t.Errorf("%d log requests in the refused namespace, want at most its first 2 pods'", n)
		}
		if n := strings.Count(errOut.String(), "warning:"); n != 1 {
			t.Errorf("stderr %q, want one warning", errOut.String())
		}
	})

	t.Run("list refused", func(t *testing.T) {
		client := fake.NewClientset(pods()...)
		client.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetNamespace() == "ns" {
				return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "", errors.New(`User "dev" cannot list resource "pods"`))
			}
			return false, nil, nil
		})
		var out, errOut syncbuf.Buffer
		cfg := &Config{
			Clusters: []Cluster{{Name: "east", Client: client, Namespaces: []string{"ns", "team"}}},
			Format:   Format{Output: OutputRaw}, Tail: -1, Out: &out, ErrOut: &errOut, OpenStream: open,
		}
		err := Run(t.Context(), cfg)
		if err == nil || err.Error() != "the pods of 1 namespace could not be listed (the warnings above say why)" {
			t.Errorf("Run = %v", err)
		}
		if !strings.Contains(out.String(), "shop-t/app line 0") || !strings.Contains(errOut.String(), "skipping namespace ns") {
			t.Errorf("out %q, stderr %q", out.String(), errOut.String())
		}
		cfg.Clusters[0].Namespaces = []string{"ns"}
		if err := Run(t.Context(), cfg); !apierrors.IsForbidden(err) {
			t.Errorf("Run of the refused namespace alone = %v, want Forbidden", err)
		}
	})

	// A cluster that does not answer (connection refused) beside one that
	// does: its pods are skipped, not the command (stern's way; it stopped
	// at once, a kubectl-conventions audit).
	t.Run("a cluster unreachable", func(t *testing.T) {
		down := fake.NewClientset()
		down.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
		})
		down.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
			return true, nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
		})
		for _, follow := range []bool{false, true} {
			var out, errOut syncbuf.Buffer
			cfg := &Config{
				Clusters: []Cluster{{Name: "east", Client: fake.NewClientset(pods()...), Namespaces: []string{"team"}},
					{Name: "west", Client: down, Namespaces: []string{"team"}}},
				Format: Format{Output: OutputRaw}, Tail: -1, Out: &out, ErrOut: &errOut, OpenStream: open, Follow: follow,
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- Run(ctx, cfg) }()
			if follow {
				waitFor(t, "east's log", func() bool { return strings.Contains(out.String(), "shop-t/app line 0") })
				cancel()
			}
			err := <-done
			cancel()
			if !strings.Contains(out.String(), "shop-t/app line 0") || !strings.Contains(errOut.String(), "context west: list pods: dial tcp: connect: connection refused") {
				t.Errorf("follow %v: out %q, stderr %q", follow, out.String(), errOut.String())
			}
			switch {
			case follow && err != nil:
				t.Errorf("the follower = %v, want it following east until Ctrl-C", err)
			case !follow && (err == nil || err.Error() != "the pods of 1 namespace could not be listed (the warnings above say why)"):
				t.Errorf("Run = %v", err)
			}
		}
	})

	t.Run("every namespace refused", func(t *testing.T) {
		all := func(context.Context, *Cluster, Target, *corev1.PodLogOptions) (io.ReadCloser, error) {
			return nil, forbidden("any")
		}
		for _, follow := range []bool{false, true} {
			var errOut syncbuf.Buffer
			cfg := &Config{
				Clusters: []Cluster{{Name: "east", Client: fake.NewClientset(pods()...), Namespaces: []string{metav1.NamespaceAll}}},
				Format:   Format{Output: OutputRaw}, Tail: -1, Follow: follow, Out: io.Discard, ErrOut: &errOut, OpenStream: all,
			}
			done := make(chan error, 1)
			go func() { done <- Run(t.Context(), cfg) }()
			select {
			case err := <-done:
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "needs get on pods/log") {
					t.Errorf("follow %v: Run = %v, want the refusal", follow, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("follow %v: Run did not stop with nothing readable", follow)
			}
		}
	})
}

// TestLogOptions: the first open of a container found at start honours
// --tail and --since or --since-time; a reopen starts at the cursor; a
// container that starts later is read from its first line.
func TestLogOptions(t *testing.T) {
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	seen := Cursor{Last: at.Add(time.Hour), From: at.Add(time.Hour), Count: 1}
	tests := []struct {
		name    string
		cfg     Config
		cur     Cursor
		initial bool
		want    string
	}{
		{"--tail and --since", Config{Follow: true, Tail: 5, Since: 90 * time.Second}, Cursor{}, true, "follow tail=5 sinceSeconds=90"},
		{"--since-time", Config{Follow: true, Tail: -1, SinceTime: at}, Cursor{}, true, "follow sinceTime=2026-12-05T08:00:00Z"},
		{"a container started later: every line", Config{Follow: true, Tail: 5, SinceTime: at}, Cursor{}, false, "follow"},
		{"a reopen starts at the cursor", Config{Follow: true, Tail: 5, SinceTime: at}, seen, true, "follow sinceTime=2026-12-05T09:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &manager{cfg: &tt.cfg}
			s := &stream{target: Target{Container: "app"}}
			s.running.Store(true)
			o := m.logOptions(s, &tt.cur, tt.initial)
			var got []string
			if o.Follow {
				got = append(got, "follow")
			}
			if o.TailLines != nil {
				got = append(got, fmt.Sprintf("tail=%d", *o.TailLines))
			}
			if o.SinceSeconds != nil {
				got = append(got, fmt.Sprintf("sinceSeconds=%d", *o.SinceSeconds))
			}
			if o.SinceTime != nil {
				got = append(got, "sinceTime="+o.SinceTime.UTC().Format(time.RFC3339))
			}
			if !o.Timestamps || o.Container != "app" || strings.Join(got, " ") != tt.want {
				t.Errorf("options %s (timestamps %v, container %q), want %s", strings.Join(got, " "), o.Timestamps, o.Container, tt.want)
			}
		})
	}
}
