package logs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

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
		live: map[string]bool{}, said: map[string]string{}, outages: map[*Cluster]*outage{}, leftOut: map[string]string{}, stop: cancel, done: ctx.Done()}
	m.appOrPod(ctx)
	err := m.start(ctx)
	if err == nil {
		m.synced.Store(true)
		err = m.nothingReadable()
	}
	noContainer := m.noContainer()
	switch {
	case err != nil:
	case m.matchedPods.Load() == 0 && !cfg.Follow:
		err = ErrNoMatch
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

// start lists every cluster and namespace (and, with Follow, keeps watching),
// starting a stream per matched container; it returns once the initial lists
// are handled.
//
// A namespace (or cluster) whose pods the user may not list is skipped with a
// warning when others are selected, as the rest can still be read; it is an
// error when it is all there is.
func (m *manager) start(ctx context.Context) error {
	var synced []cache.InformerSynced
	scopes := 0
	for i := range m.cfg.Clusters {
		scopes += len(m.cfg.Clusters[i].Namespaces)
	}
	var refused error
	listed := 0
	for i := range m.cfg.Clusters {
		cl := &m.cfg.Clusters[i]
		for _, ns := range cl.Namespaces {
			if m.isDenied(cl, ns) {
				continue // the cluster refused this user already
			}
			var err error
			if !m.cfg.Follow {
				err = m.listOnce(ctx, cl, ns)
			} else {
				// One list up front reports a wrong context or missing RBAC as an
				// error instead of an informer retrying forever.
				_, err = cl.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: m.cfg.LabelSelector, FieldSelector: m.cfg.FieldSelector, Limit: 1})
				if err != nil {
					err = clusterErr(cl, fmt.Errorf("list pods: %w", err))
				}
			}
			if err != nil && ctx.Err() != nil {
				return ctx.Err() // Ctrl-C during the first lists
			}
			if err != nil && scopes > 1 && m.cfg.Follow && unreachable(err) {
				// One cluster down must not end the follow of the others (a
				// kubectl-conventions audit's incident case): its informer
				// retries with back-off, and its pods join once it answers.
				if refused == nil {
					refused = err
				}
				fmt.Fprintf(m.cfg.ErrOut, "warning: %v; following the rest, and retrying it\n", err)
				if _, err := m.watch(ctx, cl, ns); err != nil {
					return clusterErr(cl, err)
				}
				continue
			}
			if err != nil {
				if scopes == 1 || !(refusal(err) || unreachable(err)) {
					return err
				}
				if refused == nil {
					refused = err
				}
				m.skipScope(cl, ns, err)
				continue
			}
			listed++
			if !m.cfg.Follow {
				continue
			}
			has, err := m.watch(ctx, cl, ns)
			if err != nil {
				return clusterErr(cl, err)
			}
			synced = append(synced, has)
		}
	}
	if listed == 0 && refused != nil {
		return refused
	}
	if len(synced) > 0 && !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return ctx.Err()
	}
	return nil
}

// unreachable says whether err is the cluster not answering: no HTTP
// status (refused, DNS, TLS, a --request-timeout that ran out) or one a
// proxy or an overloaded apiserver gives (429, 502, 503, 504), rather than
// an answer about the request. The caller tells the command's own end
// (Ctrl-C) apart by its context.
func unreachable(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	switch status.Status().Code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func clusterErr(cl *Cluster, err error) error {
	if cl.Name == "" {
		return err
	}
	return fmt.Errorf("context %s: %w", cl.Name, err)
}

// listOnce starts a stream for every matched container of one list (no follow).
func (m *manager) listOnce(ctx context.Context, cl *Cluster, ns string) error {
	list, err := cl.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: m.cfg.LabelSelector, FieldSelector: m.cfg.FieldSelector})
	if err != nil {
		return clusterErr(cl, fmt.Errorf("list pods: %w", err))
	}
	for i := range list.Items {
		m.reconcile(ctx, cl, &list.Items[i], true)
	}
	return nil
}

// watch runs a pod informer for one namespace of one cluster. It is built on
// a plain ListWatch rather than an informer factory (whose package links every
// API group's informers and listers into the binary), and its cache holds slim
// pods (see slimPod), not the API server's full objects.
func (m *manager) watch(ctx context.Context, cl *Cluster, ns string) (cache.InformerSynced, error) {
	pods := cl.Client.CoreV1().Pods(ns)
	sel, fields := m.cfg.LabelSelector, m.cfg.FieldSelector
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector, o.FieldSelector = sel, fields
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector, o.FieldSelector = sel, fields
			return pods.Watch(ctx, o)
		},
	}, cl.Client)
	inf := cache.NewSharedIndexInformerWithOptions(lw, &corev1.Pod{}, cache.SharedIndexInformerOptions{})
	if err := inf.SetTransform(slimPod); err != nil {
		return nil, err
	}
	if err := inf.SetWatchErrorHandlerWithContext(m.watchError(cl, ns)); err != nil {
		return nil, err
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if pod, ok := obj.(*corev1.Pod); ok {
				m.reconcile(ctx, cl, pod, initial)
			}
		},
		UpdateFunc: func(_, obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				m.reconcile(ctx, cl, pod, false)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				m.forget(cl, pod)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	go inf.RunWithContext(ctx)
	return reg.HasSynced, nil
}

// watchError is the informer's watch error handler. A user who may list
// pods but not watch them (a "log reader" Role: get, list) is still
// followed, the reflector listing again after each refusal; one warning
// says so instead of client-go's "Failed to watch" line at every retry.
// Other errors go to client-go's handler.
func (m *manager) watchError(cl *Cluster, ns string) cache.WatchErrorHandlerWithContext {
	var warned atomic.Bool
	return func(ctx context.Context, r *cache.Reflector, err error) {
		if !apierrors.IsForbidden(err) {
			cache.DefaultWatchErrorHandler(ctx, r, err)
			return
		}
		if !warned.Swap(true) {
			m.note("warning: %v\n", clusterErr(cl, fmt.Errorf("may not watch pods in %s (kubectl zz logs needs list and watch on pods, and get on pods/log): new pods are found by listing them again, after a back-off: %w", namespaces([]string{ns}), err)))
		}
	}
}

// slimPod is the informer's transform: it keeps only what reconcile, forget,
// Selector.Targets and podProblem read: name, namespace, UID, node, phase,
// the PodScheduled and Ready conditions, the init containers' names and
// restart policies (native sidecars), and per container status its name,
// containerID, restart count, readiness, state and last termination (the
// last run of a crash-looping container is its log; see targetOf). A full
// pod (spec, managedFields) is several kilobytes; the cache holds one per
// followed pod.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a tombstone: its object was transformed before
	}
	slim := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID,
			ResourceVersion: pod.ResourceVersion, DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: corev1.PodStatus{
			Phase:                      pod.Status.Phase,
			InitContainerStatuses:      slimStatuses(pod.Status.InitContainerStatuses),
			ContainerStatuses:          slimStatuses(pod.Status.ContainerStatuses),
			EphemeralContainerStatuses: slimStatuses(pod.Status.EphemeralContainerStatuses),
		},
	}
	for _, c := range pod.Spec.InitContainers {
		slim.Spec.InitContainers = append(slim.Spec.InitContainers, corev1.Container{Name: c.Name, RestartPolicy: c.RestartPolicy})
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled || c.Type == corev1.PodReady {
			slim.Status.Conditions = append(slim.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
		}
	}
	return slim, nil
}

func slimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i := range in {
		st := &in[i]
		out[i] = corev1.ContainerStatus{Name: st.Name, ContainerID: st.ContainerID, RestartCount: st.RestartCount, Ready: st.Ready}
		if st.State.Running != nil {
			out[i].State.Running = &corev1.ContainerStateRunning{}
		}
		if t := st.State.Terminated; t != nil {
			out[i].State.Terminated = &corev1.ContainerStateTerminated{ContainerID: t.ContainerID, ExitCode: t.ExitCode, Reason: t.Reason}
		}
		if w := st.State.Waiting; w != nil {
			out[i].State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		}
		if t := st.LastTerminationState.Terminated; t != nil {
			out[i].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: t.ContainerID, ExitCode: t.ExitCode, Reason: t.Reason, Message: firstLine(t.Message)}
		}
	}
	return out
}

// firstLine is what podProblem shows of a termination message.
func firstLine(m string) string {
	m, _, _ = strings.Cut(strings.TrimSpace(m), "\n")
	if len(m) > 200 {
		m = m[:200]
	}
	return m
}

// reconcile makes the pod's streams match Selector.Targets: new containers and
// restarts (a new containerID) get a stream, containers no longer listed stop.
func (m *manager) reconcile(ctx context.Context, cl *Cluster, pod *corev1.Pod, initial bool) {
	matched := m.cfg.Selector.MatchPod(pod) && initial
	if matched {
		m.matchedPods.Add(1)
	}
	targets := m.cfg.Selector.Targets(pod)
	podKey := cl.Name + "/" + pod.Namespace + "/" + pod.Name
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.Selector.MatchPod(pod) {
		m.live[podKey] = true
		if m.cfg.Follow || initial {
			m.sayProblem(cl, pod, podKey)
		}
	}
	if matched && m.cfg.Selector.filtersContainers() {
		if m.containers == nil {
			m.containers = map[string]bool{}
		}
		kept, known := m.cfg.Selector.containerNames(pod, m.containers)
		m.containerKept = m.containerKept || kept || !known
	}
	keep := make(map[string]bool, len(targets))
	keys := make([]string, 0, len(targets))
	for _, t := range targets {
		if m.deniedLocked(cl, t.Namespace) {
			// Its namespace's logs were refused (said once): asking again
			// for every pod would only repeat the refusal.
			if !m.cfg.Follow && initial {
				m.started.Add(1)
				m.unread.Add(1)
			}
			continue
		}
		key := cl.Name + "/" + t.Key()
		if initial && !m.cfg.Selector.startsWith(t.State) {
			// --container-state leaves this run out; its next one (a
			// new containerID) is streamed.
			m.leftOut[key] = t.ContainerID
			m.statesLeftOut++
			continue
		}
		if id, ok := m.leftOut[key]; ok {
			if id == t.ContainerID {
				continue
			}
			delete(m.leftOut, key)
		}
		keep[key] = true
		keys = append(keys, key)
		if s := m.streams[key]; s != nil {
			if s.target.ContainerID == t.ContainerID && string(pod.UID) == s.target.PodUID {
				s.running.Store(t.Running)
				continue
			}
			// An old run of the container (or an old pod of that name): let
			// it deliver its last lines, then end it.
			s.gone.Store(true)
			s.running.Store(false)
			time.AfterFunc(goneGrace, s.cancel)
		}
		m.startStream(ctx, cl, t, initial)
	}
	for _, key := range m.pods[podKey] {
		if s := m.streams[key]; s != nil && !keep[key] {
			s.running.Store(false)
		}
	}
	m.pods[podKey] = keys
}

// forget ends the streams of a pod that was deleted, after a grace period for
// their last lines.
func (m *manager) forget(cl *Cluster, pod *corev1.Pod) {
	podKey := cl.Name + "/" + pod.Namespace + "/" + pod.Name
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, key := range m.pods[podKey] {
		if s := m.streams[key]; s != nil && s.target.PodUID == string(pod.UID) {
			s.gone.Store(true)
			time.AfterFunc(goneGrace, s.cancel)
			delete(m.streams, key)
		}
	}
	delete(m.pods, podKey)
	delete(m.said, podKey)
	for key := range m.leftOut {
		if strings.HasPrefix(key, podKey+"/") {
			delete(m.leftOut, key)
		}
	}
	if m.live[podKey] {
		delete(m.live, podKey)
		if len(m.live) == 0 && m.cfg.Follow {
			m.note("no pod matches any more; waiting for %s (Ctrl-C to stop)\n", m.watching())
		}
	}
}

// sayProblem names, once per reason, a matched pod with a selected
// container that has no current run to follow (Selector.podProblem), so
// that a pod stuck in ImagePullBackOff or a crash loop is not simply absent
// from the output; m.mu is held.
func (m *manager) sayProblem(cl *Cluster, pod *corev1.Pod, podKey string) {
	p, transient, ok := m.cfg.Selector.podProblem(pod)
	if !ok || (transient && m.cfg.Follow) {
		return
	}
	key := p.Reason + "/" + p.Container
	if m.said[podKey] == key {
		return
	}
	m.said[podKey] = key
	m.note("note: %v\n", clusterErr(cl, fmt.Errorf("pod %s/%s: %s", pod.Namespace, pod.Name, p)))
}

// startStream runs one container's stream; m.mu is held.
func (m *manager) startStream(ctx context.Context, cl *Cluster, t Target, initial bool) {
	ctx, cancel := context.WithCancel(ctx)
	s := &stream{cluster: cl, target: t, cancel: cancel}
	s.running.Store(t.Running)
	key := cl.Name + "/" + t.Key()
	m.streams[key] = s
	m.started.Add(1)
	if m.cfg.Follow && !m.cfg.Quiet {
		m.note("%s\n", m.cfg.Format.announce('+', m.cfg.Format.NewSource(cl.Name, t)))
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		// The stream stays in m.streams after it ends, so later events of
		// the same container run (a completed pod's updates) do not print
		// its log again; forget drops it with its pod.
		m.follow(ctx, cl, s, initial)
	}()
}
