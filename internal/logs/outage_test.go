package logs

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/syncbuf"
)

// TestRunApiserverLost: when a context's apiserver stops answering, its
// streams fail together; a follower says so once for the context (with the
// cause, not each stream's URL), not once per stream, and says once that
// the streams resumed when they are all back.
func TestRunApiserverLost(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:26999/api/v1/namespaces/ns/pods/x/log",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}}
	for _, tc := range []struct {
		name      string
		clusters  []string
		down      string // the context whose apiserver is gone
		wantWarn  []string
		wantCount int // warnings in all
		// deleted is a pod of the lost context whose opens keep failing
		// after the apiserver is back, deleted once the others reopened:
		// the last failing stream ends for good, and resumed must still be
		// said.
		deleted string
	}{
		{name: "one context, three pods", clusters: []string{"east"}, down: "east",
			wantWarn:  []string{"warning: context east: lost the apiserver (dial tcp: connect: connection refused); retrying its 3 log streams\n"},
			wantCount: 1},
		{name: "two contexts, one lost", clusters: []string{"east", "west"}, down: "west",
			wantWarn:  []string{"warning: context west: lost the apiserver (dial tcp: connect: connection refused); retrying its 3 log streams\n"},
			wantCount: 1},
		{name: "the last failing stream's pod deleted during the outage", clusters: []string{"east"}, down: "east", deleted: "shop-c",
			wantWarn:  []string{"warning: context east: lost the apiserver (dial tcp: connect: connection refused); retrying its 3 log streams\n"},
			wantCount: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKubelet()
			var down atomic.Bool
			opens := map[string]*atomic.Int64{}
			var reopened atomic.Int64 // opens of the lost context that succeeded after it came back
			var clusters []Cluster
			for _, name := range tc.clusters {
				clusters = append(clusters, Cluster{Name: name, Client: fake.NewClientset(appPod("shop-a", "app"), appPod("shop-b", "app"), appPod("shop-c", "app")), Namespaces: []string{"ns"}})
				for _, p := range []string{"shop-a", "shop-b", "shop-c"} {
					k.add(name+"/ns/"+p+"/app", 1)
					opens[name+"/ns/"+p+"/app"] = &atomic.Int64{}
				}
			}
			// Every stream ends at once and cannot be reopened while the
			// apiserver is down.
			open := func(ctx context.Context, c *Cluster, tg Target, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
				opens[c.Name+"/"+tg.Key()].Add(1)
				if c.Name == tc.down && (down.Load() || (tc.deleted != "" && tg.Pod == tc.deleted)) {
					return nil, refused
				}
				if c.Name == tc.down && opens[c.Name+"/"+tg.Key()].Load() > 1 {
					reopened.Add(1)
				}
				rc, err := k.open(ctx, c, tg, opts)
				// The first open of each stream breaks: the apiserver went
				// away. Not only the first stream's: another may have passed
				// the check above before down was set, and kept a stream
				// that never broke (CI's -race run, twice).
				if c.Name == tc.down && opens[c.Name+"/"+tg.Key()].Load() == 1 {
					rc.Close()
					down.Store(true)
				}
				return rc, err
			}
			var out, errOut syncbuf.Buffer
			cfg := &Config{Clusters: clusters, Format: Format{Output: OutputRaw, ShowCluster: true}, Follow: true, Quiet: true, Tail: -1,
				Out: &out, ErrOut: &errOut, OpenStream: open}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- Run(ctx, cfg) }()
			waitFor(t, "the warning", func() bool { return strings.Contains(errOut.String(), "warning:") })
			waitFor(t, "every stream of the lost context failing", func() bool {
				for key, n := range opens {
					if strings.HasPrefix(key, tc.down+"/") && n.Load() < 2 {
						return false
					}
				}
				return true
			})
			down.Store(false)
			for _, p := range []string{"shop-a", "shop-b", "shop-c"} {
				k.add(tc.down+"/ns/"+p+"/app", 1)
			}
			if tc.deleted != "" {
				waitFor(t, "the other streams reopened", func() bool { return reopened.Load() >= 2 })
				for _, c := range clusters {
					if c.Name == tc.down {
						if err := c.Client.CoreV1().Pods("ns").Delete(ctx, tc.deleted, metav1.DeleteOptions{}); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			resumed := "note: context " + tc.down + ": the apiserver answers again; log streams resumed\n"
			waitFor(t, "the resumed note", func() bool { return strings.Contains(errOut.String(), resumed) })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run = %v", err)
			}
			stderr := errOut.String()
			if n := strings.Count(stderr, "warning:"); n != tc.wantCount {
				t.Errorf("%d warnings, want %d:\n%s", n, tc.wantCount, stderr)
			}
			for _, want := range tc.wantWarn {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if n := strings.Count(stderr, resumed); n != 1 {
				t.Errorf("%d resumed notes, want 1:\n%s", n, stderr)
			}
			if strings.Contains(stderr, "https://") {
				t.Errorf("stderr names a stream's URL:\n%s", stderr)
			}
		})
	}
}

// TestReachedLastFailingStreamEnds: two streams of a context lose the
// apiserver and warn; a reopens, then b ends for good (its pod deleted
// during the outage). Resumed is said if a stream is still followed, not if
// none is; the outage is forgotten either way (review 15 L2).
func TestReachedLastFailingStreamEnds(t *testing.T) {
	for _, tc := range []struct {
		name        string
		aEnds       bool // a ends too, before b
		wantResumed bool
	}{
		{name: "a still followed", wantResumed: true},
		{name: "every stream ended", aEnds: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errOut syncbuf.Buffer
			cl := &Cluster{Name: "east"}
			a, b := &stream{cluster: cl}, &stream{cluster: cl}
			a.running.Store(true)
			b.running.Store(true)
			m := &manager{cfg: &Config{ErrOut: &errOut}, outages: map[*Cluster]*outage{}, streams: map[string]*stream{"a": a, "b": b}}
			err := errors.New("connection refused")
			for i := 1; i <= warnAfterFailures; i++ {
				m.lost(cl, a, i, err)
				m.lost(cl, b, i, err)
			}
			if tc.aEnds {
				a.gone.Store(true)
				m.reached(cl, a, true)
			} else {
				m.reached(cl, a, false)
			}
			b.gone.Store(true)
			m.reached(cl, b, true)
			if got := strings.Contains(errOut.String(), "log streams resumed"); got != tc.wantResumed {
				t.Errorf("resumed said: %v, want %v; stderr:\n%s", got, tc.wantResumed, errOut.String())
			}
			if len(m.outages) != 0 {
				t.Errorf("outages left: %d, want 0", len(m.outages))
			}
		})
	}
}
