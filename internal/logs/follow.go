package logs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/prose"
)

// Run streams the selected containers' logs until ctx ends (Follow) or every
// stream has ended, and returns nil on a clean stop by ctx (Ctrl-C). Without
// Follow it returns ErrNoMatch when no pod matched, and ErrNoContainer when
// the container filter left no container of the pods that did; a follower
// says so on ErrOut and waits for pods that match.
func Run(ctx context.Context, cfg *Config) error {
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.OpenStream == nil {
		cfg.OpenStream = openPodLogs
	}
	var out sink
	if cfg.OutputDir != "" {
		out = newDirSink(cfg.OutputDir, cfg.Gzip)
	} else {
		out = newWriterSink(cfg.Out)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := &manager{cfg: cfg, sink: out, sem: make(chan struct{}, cfg.MaxStreams), streams: map[string]*stream{}, pods: map[string][]string{}, denied: map[string]error{},
		live: map[string]bool{}, said: map[string]string{}, saidOf: map[string]string{}, outages: map[*Cluster]*outage{}, leftOut: map[string]string{}, stop: cancel, done: ctx.Done()}
	m.appOrPod(ctx)
	err := m.start(ctx)
	if err == nil {
		m.synced.Store(true)
		err = m.nothingReadable()
	}
	noContainer := m.noContainer()
	if err == nil && m.matchedPods.Load() == 0 && m.unmatched == "" {
		m.absentNamespace(ctx)
	}
	switch {
	case err != nil:
	case m.matchedPods.Load() == 0 && !cfg.Follow && m.unmatched != "":
		err = noMatch{m.unmatched}
	case m.matchedPods.Load() == 0 && !cfg.Follow:
		err = ErrNoMatch
	case m.matchedPods.Load() == 0 && m.unmatched != "":
		m.note("%s; waiting for %s (Ctrl-C to stop)\n", m.unmatched, m.watching())
	case m.matchedPods.Load() == 0:
		// An app scaled to 0 or about to be deployed: wait for its pods,
		// as stern does, so that logs can be started before a deploy.
		m.note("no pod matches yet; waiting for %s (Ctrl-C to stop)\n", m.watching())
	case noContainer != nil && !cfg.Follow:
		err = noContainer // as kubectl logs -c nosuch
	case noContainer != nil:
		m.note("warning: %v; waiting for pods that have one (Ctrl-C to stop)\n", noContainer)
	case cfg.Selector.Previous && m.started.Load() == 0:
		err = fmt.Errorf("%w (%s matched)", ErrNoPrevious, pods(m.matchedPods.Load()))
	}
	switch {
	case err != nil:
		cancel()
	case cfg.Follow:
		<-ctx.Done()
	case m.started.Load() == 0 && cfg.ErrOut != nil:
		// Nothing printed and exit 0 (stern's way) would read as empty logs.
		if n := m.leftOutByState(); n > 0 {
			fmt.Fprintf(cfg.ErrOut, "%s matched, but --container-state %s left out the %s found, so nothing was logged\n",
				pods(m.matchedPods.Load()), statesWord(cfg.Selector.States), plural(n, "container"))
			break
		}
		fmt.Fprintf(cfg.ErrOut, "%s matched, but no selected container has run yet, so nothing was logged; follow (drop --no-follow) to see them start\n",
			pods(m.matchedPods.Load()))
	}
	m.wg.Wait() // without Follow, every stream ends at the end of its log
	if ferr := m.failure(); ferr != nil {
		err = ferr
	}
	if err == nil {
		err = m.incomplete()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, context.Canceled) {
		err = nil // Ctrl-C
	}
	return err
}

// note prints to ErrOut, if there is one.
func (m *manager) note(format string, args ...any) {
	if m.cfg.ErrOut != nil {
		fmt.Fprintf(m.cfg.ErrOut, format, args...)
	}
}

// watching says which pods a follower waits for: its selection, namespaces
// and contexts.
func (m *manager) watching() string {
	var b strings.Builder
	b.WriteString("pods")
	var sels []string
	for _, sel := range []string{m.cfg.LabelSelector, m.cfg.FieldSelector} {
		if sel != "" {
			sels = append(sels, sel)
		}
	}
	if len(sels) > 0 {
		b.WriteString(" with " + strings.Join(sels, ","))
	}
	if re := m.cfg.Selector.Pod; re != nil {
		b.WriteString(" named " + re.String())
	}
	if re := m.cfg.Selector.ExcludePod; re != nil {
		b.WriteString(" not named " + re.String())
	}
	// Each context has its namespaces (kubeconfig's or -n); say them once
	// when they are the same everywhere.
	var where, contexts []string
	same := true
	for i, cl := range m.cfg.Clusters {
		ns := namespaces(cl.Namespaces)
		if i > 0 && ns != namespaces(m.cfg.Clusters[0].Namespaces) {
			same = false
		}
		if cl.Name != "" {
			contexts = append(contexts, cl.Name)
			ns += " of context " + cl.Name
		}
		where = append(where, ns)
	}
	switch {
	case len(where) == 0:
	case same && len(contexts) > 1:
		fmt.Fprintf(&b, " in %s of contexts %s", namespaces(m.cfg.Clusters[0].Namespaces), strings.Join(contexts, ", "))
	case same:
		b.WriteString(" in " + where[0])
	default:
		b.WriteString(" in " + strings.Join(where, "; "))
	}
	return b.String()
}

func namespaces(ns []string) string {
	switch {
	case slices.Contains(ns, metav1.NamespaceAll):
		return "every namespace"
	case len(ns) == 1:
		return "namespace " + ns[0]
	}
	return "namespaces " + strings.Join(ns, ", ")
}

// noContainer is the error of a container filter (-c, --exclude-container)
// that leaves no container of any pod matched at start; nil without a filter,
// or when a matched pod's containers are not known yet (not scheduled).
func (m *manager) noContainer() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.cfg.Selector.filtersContainers() || m.containerKept || len(m.containers) == 0 {
		return nil
	}
	names := prose.Some(slices.Sorted(maps.Keys(m.containers)), 10)
	return &noContainerError{fmt.Sprintf("%s matched no container of the %s (their containers: %s)",
		m.cfg.Selector.filterFlags(), pods(m.matchedPods.Load()), names)}
}

type noContainerError struct{ msg string }

func (e *noContainerError) Error() string        { return e.msg }
func (e *noContainerError) Is(target error) bool { return target == ErrNoContainer }

func pods(n int64) string {
	if n == 1 {
		return "1 pod"
	}
	return fmt.Sprintf("%d pods", n)
}

// fail stops Run with err (the first one wins): a line that cannot be
// formatted or written is not worth retrying.
func (m *manager) fail(err error) {
	m.mu.Lock()
	if m.failed == nil {
		m.failed = err
	}
	m.mu.Unlock()
	m.stop()
}

func (m *manager) failure() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed
}

// manager owns the streams of every cluster. Pod events only call reconcile
// and forget; each stream runs in its own goroutine.
type manager struct {
	cfg  *Config
	sink sink
	sem  chan struct{}
	wg   sync.WaitGroup

	matchedPods atomic.Int64
	started     atomic.Int64 // streams started
	unread      atomic.Int64 // --no-follow streams that could not be read
	Lines       atomic.Int64
	capWarned   atomic.Bool

	// unmatched says why no pod matched: where the app named runs 0
	// replicas (appOrPod), or a namespace that does not exist
	// (absentNamespace); "" where neither was found.
	unmatched string

	stop context.CancelFunc // ends Run
	done <-chan struct{}    // closed when Run ends (Ctrl-C, or stop)

	mu      sync.Mutex
	failed  error
	streams map[string]*stream  // cluster/ns/pod/container
	pods    map[string][]string // cluster/ns/pod -> its stream keys

	// denied holds the scopes whose logs the apiserver refused, with the
	// first refusal: "cluster/namespace", or "cluster/" for a whole cluster
	// (see deny). synced is set once the initial lists are handled.
	denied    map[string]error
	firstDeny error
	unlisted  atomic.Int64 // --no-follow: namespaces whose pods could not be listed
	synced    atomic.Bool

	// containers holds the names of the containers of the pods matched at
	// start, when a container filter is set; containerKept that the filter
	// keeps one of them, or might (a pod whose containers are not known yet).
	// See noContainer.
	containers    map[string]bool
	containerKept bool

	// live holds the matched pods that are there now (cluster/ns/pod), for
	// a follower to say when none is left; said the pod problem last named
	// per pod (see sayProblem).
	live map[string]bool
	said map[string]string
	// saidOf: a problem's words (cluster, namespace and reason) -> the
	// pod it was said of first, so the next pods waiting alike get a line
	// that points to it rather than the same words again (a scale audit:
	// ten pending pods, ten 400-character notes before the first line).
	saidOf map[string]string

	// leftOut holds the container runs --container-state left out at start
	// (stream key -> containerID), statesLeftOut how many.
	leftOut       map[string]string
	statesLeftOut int

	// outages holds the contexts whose apiserver stopped answering log
	// requests (see lost).
	outages map[*Cluster]*outage
}

// stream is one container's log being followed.
type stream struct {
	cluster *Cluster
	target  Target
	cancel  context.CancelFunc
	gone    atomic.Bool // the pod went away: do not reconnect
	running atomic.Bool // the container still runs: reconnect after a clean end
}
