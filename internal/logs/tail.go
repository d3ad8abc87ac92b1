package logs

import (
	"context"
	"errors"
	"fmt"
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
			err = Consume(rc, &cur, emit, flush)
			rc.Close()
			if ferr := flush(); ferr != nil && err == nil {
				err = ferr
			}
		}
		var fatal *fatalError
		switch {
		case ctx.Err() != nil:
			return
		case errors.As(err, &fatal):
			m.fail(fatal.err)
			return
		case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
			// The same for every pod of the namespace: retrying cannot help.
			m.fail(clusterErr(cl, fmt.Errorf("read the log of pod %s/%s (kubectl zz logs needs get on pods/log): %w", s.target.Namespace, s.target.Pod, err)))
			return
		case s.gone.Load():
			return
		case err != nil && !m.cfg.Follow:
			m.unreadable(cl, s.target, err)
			return
		case !m.cfg.Follow:
			return
		case err == nil && !s.running.Load():
			return // the container ended and its log is read
		}
		if cur != before {
			backoff = backoffMin // it made progress: not a failure in a row
		}
		if failed == warnAfterFailures {
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
		}
	}
	return opts
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
