package logs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// follow streams one container until it ends, its pod goes away or ctx ends,
// reopening a broken stream from the cursor with back-off.
func (m *manager) follow(ctx context.Context, cl *Cluster, s *stream, initial bool) {
	if !m.acquire(ctx) {
		return
	}
	defer func() { <-m.sem }()
	logger := klog.FromContext(ctx).WithValues("context", cl.Name, "pod", klog.KRef(s.target.Namespace, s.target.Pod), "container", s.target.Container)
	src := m.cfg.Format.NewSource(cl.Name, s.target)
	defer func() {
		if err := m.sink.Done(src); err != nil {
			logger.Error(err, "close the output of an ended stream")
		}
	}()
	defer m.reached(cl, s, true)
	var cur Cursor
	// Lines are batched per stream and handed to the sink when the stream
	// has nothing more buffered (or the batch is large): one write per burst.
	// The batch buffer comes from a pool and goes back after each write, so
	// a quiet stream (most of them, most of the time) holds none.
	var batch *[]byte
	flush := func() error {
		if batch == nil {
			return nil
		}
		err := m.sink.Write(src, *batch)
		putBatch(batch)
		batch = nil
		if err != nil {
			return &fatalError{err}
		}
		return nil
	}
	emit := func(ts time.Time, stamp, msg []byte) error {
		if !m.cfg.Format.Keep(msg) {
			return nil
		}
		if batch == nil {
			batch = batchPool.Get().(*[]byte)
		}
		var err error
		if *batch, err = m.cfg.Format.Append(*batch, src, ts, stamp, msg); err != nil {
			return &fatalError{err}
		}
		m.Lines.Add(1)
		if len(*batch) >= batchMax {
			return flush()
		}
		return nil
	}
	backoff := backoffMin
	failed := 0 // opens that failed in a row
	for {
		opts := m.logOptions(s, &cur, initial)
		before := cur
		rc, err := m.cfg.OpenStream(ctx, cl, s.target, opts)
		if err != nil {
			failed++
		} else {
			failed = 0
			m.reached(cl, s, false)
			err = Consume(rc, &cur, emit, flush)
			rc.Close()
			if ferr := flush(); ferr != nil && err == nil {
				err = ferr
			}
		}
		var fatal *fatalError
		switch {
		case ctx.Err() != nil:
			if s.gone.Load() {
				m.left(cl, s) // its pod's grace period ran out
			}
			return
		case errors.As(err, &fatal):
			m.fail(fatal.err)
			return
		case refusal(err):
			// The same for every pod of the namespace: retrying cannot help.
			m.deny(cl, s.target, err)
			return
		case s.gone.Load():
			m.left(cl, s)
			return
		case err != nil && !m.cfg.Follow:
			m.unreadable(cl, s.target, err)
			return
		case !m.cfg.Follow:
			return
		case err == nil && !s.running.Load():
			m.left(cl, s) // the container ended and its log is read
			return
		}
		if cur != before {
			backoff = backoffMin // it made progress: not a failure in a row
		}
		switch {
		case failed > 0 && unreachable(err):
			m.lost(cl, s, failed, err) // one warning for the context
		case failed == warnAfterFailures:
			fmt.Fprintf(m.cfg.ErrOut, "warning: %s; retrying\n", clusterErr(cl, fmt.Errorf("pod %s/%s container %s: %w", s.target.Namespace, s.target.Pod, s.target.Container, err)))
		}
		logger.V(2).Info("reopening log stream", "since", cur.Last, "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if err != nil {
			backoff = min(2*backoff, backoffMax)
		}
	}
}

// left says "- pod/container" on ErrOut when a followed stream ends for
// good (its pod went away, its container ended or restarted), as stern
// does; not when Run ends (Ctrl-C) or with Quiet.
func (m *manager) left(cl *Cluster, s *stream) {
	select {
	case <-m.done:
		return
	default:
	}
	if m.cfg.Follow && !m.cfg.Quiet {
		m.note("%s\n", m.cfg.Format.announce('-', m.cfg.Format.NewSource(cl.Name, s.target)))
	}
}

// warnAfterFailures is how many opens of a followed stream fail in a row
// before a warning says so (a container just starting can fail once or twice).
const warnAfterFailures = 3

// unreadable reports a log that --no-follow could not read (or read only in
// part): a warning now, and Run fails at the end. A pod deleted meanwhile is
// only a note: there is no log left to read.
func (m *manager) unreadable(cl *Cluster, t Target, err error) {
	what := fmt.Sprintf("pod %s/%s container %s", t.Namespace, t.Pod, t.Container)
	if t.Previous {
		what += " (previous run)"
	}
	if apierrors.IsNotFound(err) {
		fmt.Fprintf(m.cfg.ErrOut, "note: %s: %v\n", clusterErr(cl, errors.New(what)), err)
		return
	}
	m.unread.Add(1)
	fmt.Fprintf(m.cfg.ErrOut, "warning: %s\n", clusterErr(cl, fmt.Errorf("%s: %w", what, err)))
}

// logOptions asks for timestamps always (the cursor needs them); a reopened
// stream starts at the cursor's second, a first one honours --since/--tail for
// containers found at start.
func (m *manager) logOptions(s *stream, cur *Cursor, initial bool) *corev1.PodLogOptions {
	opts := &corev1.PodLogOptions{Container: s.target.Container, Follow: m.cfg.Follow && s.running.Load(), Timestamps: true, Previous: s.target.Previous}
	switch {
	case cur.Seen():
		opts.SinceTime = &metav1.Time{Time: cur.Last}
	case initial:
		if m.cfg.Tail >= 0 {
			opts.TailLines = &m.cfg.Tail
		}
		if m.cfg.Since > 0 {
			secs := int64((m.cfg.Since + time.Second - 1) / time.Second)
			opts.SinceSeconds = &secs
		} else if !m.cfg.SinceTime.IsZero() {
			opts.SinceTime = &metav1.Time{Time: m.cfg.SinceTime}
		}
		cur.Bounded = midSecondBound(opts)
	}
	return opts
}

// midSecondBound says whether a first request's time bound may fall inside
// a second, leaving out lines of the second its first line is in (see
// Cursor.Bounded): --since, which the kubelet turns into its own clock
// minus so many seconds, to the nanosecond. --since-time travels as a
// whole second (metav1.Time), so it leaves out no line of a second it
// keeps a line of, and the count from that second's start stays exact.
func midSecondBound(opts *corev1.PodLogOptions) bool {
	return opts.SinceSeconds != nil
}

// acquire takes a stream slot, saying once when the cap holds streams back.
func (m *manager) acquire(ctx context.Context) bool {
	select {
	case m.sem <- struct{}{}:
		return true
	default:
	}
	if !m.capWarned.Swap(true) {
		fmt.Fprintf(m.cfg.ErrOut, "warning: %d log streams are open, the --max-streams limit; more containers matched and wait for a free stream (raise --max-streams or narrow the selection)\n", m.cfg.MaxStreams)
	}
	select {
	case m.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// batchMax bounds the bytes a stream batches before handing them to the
// sink; batch buffers are pooled.
const batchMax = 8 << 10

var batchPool = sync.Pool{New: func() any {
	b := make([]byte, 0, batchMax+512)
	return &b
}}

// putBatch returns a batch buffer to the pool, unless a long line grew it.
func putBatch(b *[]byte) {
	if cap(*b) > 2*batchMax {
		return
	}
	*b = (*b)[:0]
	batchPool.Put(b)
}

// fatalError is an output error: the stream stops and so does Run.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

// refusal reports an error that retrying cannot change: the user may not do
// this (Forbidden) or is not known to the cluster (Unauthorized).
func refusal(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}

// scopeKey is the unit a refusal holds for: RBAC grants pods and pods/log per
// namespace, and an Unauthorized answer holds for the whole cluster ("cl/").
func scopeKey(cl *Cluster, ns string, err error) string {
	if apierrors.IsUnauthorized(err) || unreachable(err) {
		return cl.Name + "/"
	}
	return cl.Name + "/" + ns
}

// deny handles a log the apiserver refuses to this user. The refusal holds
// for the pod's whole namespace (or cluster), so that namespace's pods are
// skipped with one warning, and the other namespaces and clusters go on:
// kubectl zz logs -A should not stop at the one namespace a tenant may not
// read. Run stops with the refusal once nothing selected could be read.
func (m *manager) deny(cl *Cluster, t Target, err error) {
	full := clusterErr(cl, fmt.Errorf("read the log of pod %s/%s (kubectl zz logs needs get on pods/log): %w", t.Namespace, t.Pod, err))
	first, fatal := m.record(scopeKey(cl, t.Namespace, err), full)
	if !m.cfg.Follow {
		m.unread.Add(1)
	}
	switch {
	case fatal:
		m.fail(full)
	case first:
		fmt.Fprintf(m.cfg.ErrOut, "warning: %s; skipping %s\n", full, scopeName(cl, t.Namespace, err))
	}
}

// skipScope is deny for a namespace whose pods could not be listed.
func (m *manager) skipScope(cl *Cluster, ns string, err error) {
	m.record(scopeKey(cl, ns, err), err)
	if !m.cfg.Follow {
		m.unlisted.Add(1)
	}
	fmt.Fprintf(m.cfg.ErrOut, "warning: %v; skipping %s\n", err, scopeName(cl, ns, err))
}

func scopeName(cl *Cluster, ns string, err error) string {
	switch {
	case (apierrors.IsUnauthorized(err) || unreachable(err)) && cl.Name != "":
		return "context " + cl.Name
	case apierrors.IsUnauthorized(err):
		return "the cluster"
	case ns == metav1.NamespaceAll:
		return "every namespace"
	}
	return "namespace " + ns
}

// record notes a refused scope; first says it was new, fatal that nothing
// selected is left that could be read.
func (m *manager) record(scope string, err error) (first, fatal bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.denied[scope] == nil {
		m.denied[scope], first = err, true
		if m.firstDeny == nil {
			m.firstDeny = err
		}
	}
	return first, !m.readableLocked()
}

func (m *manager) isDenied(cl *Cluster, ns string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deniedLocked(cl, ns)
}

// deniedLocked reports a refused namespace (or cluster); m.mu is held.
func (m *manager) deniedLocked(cl *Cluster, ns string) bool {
	return len(m.denied) > 0 && (m.denied[cl.Name+"/"] != nil || m.denied[cl.Name+"/"+ns] != nil)
}

// readableLocked reports whether something selected may still be read: a
// named namespace not refused, or, for every namespace (-A), a pod found in
// one not refused; before the initial lists are done, -A may still find
// one. m.mu is held.
func (m *manager) readableLocked() bool {
	for i := range m.cfg.Clusters {
		cl := &m.cfg.Clusters[i]
		for _, ns := range cl.Namespaces {
			switch {
			case m.deniedLocked(cl, ns):
			case ns != metav1.NamespaceAll:
				return true
			case !m.synced.Load():
				return true
			default:
				for _, s := range m.streams {
					if s.cluster == cl && !m.deniedLocked(cl, s.target.Namespace) {
						return true
					}
				}
			}
		}
	}
	return false
}

// nothingReadable is the refusal that stops Run once the initial lists show
// that every selected namespace was refused; nil while anything is readable.
func (m *manager) nothingReadable() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.firstDeny == nil || m.readableLocked() {
		return nil
	}
	return m.firstDeny
}

// incomplete is the error of a --no-follow run that could not read all it
// selected; the warnings printed on the way say why.
func (m *manager) incomplete() error {
	var parts []string
	if n := m.unread.Load(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d logs could not be read", n, m.started.Load()))
	}
	if n := m.unlisted.Load(); n == 1 {
		parts = append(parts, "the pods of 1 namespace could not be listed")
	} else if n > 1 {
		parts = append(parts, fmt.Sprintf("the pods of %d namespaces could not be listed", n))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%s (the warnings above say why)", strings.Join(parts, ", and "))
}
