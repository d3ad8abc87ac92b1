package logs

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// chunkWriter records each Write: the sink's flushes.
type chunkWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.b.Write(p)
}

// TestWriterSinkConcurrent: batches of many streams written at once arrive
// whole (never interleaved inside a batch), each once, although every caller
// reuses its buffer as soon as Write returns; and the last writer flushes, so
// nothing waits for Close.
func TestWriterSinkConcurrent(t *testing.T) {
	var w chunkWriter
	s := newWriterSink(&w)
	const streams, batches = 20, 200
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() {
			var buf []byte
			for j := range batches {
				buf = buf[:0]
				for k := range 3 {
					buf = fmt.Appendf(buf, "s%d b%d l%d\n", i, j, k)
				}
				if err := s.Write(nil, buf); err != nil {
					t.Error(err)
					return
				}
				clear(buf) // the sink must have copied it
			}
		})
	}
	wg.Wait()
	w.mu.Lock()
	out := w.b.String()
	w.mu.Unlock()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != streams*batches*3 {
		t.Fatalf("%d lines before Close, want %d (every Write flushed by the last writer)", len(lines), streams*batches*3)
	}
	seen := map[string]bool{}
	for i := 0; i < len(lines); i += 3 {
		var si, bj int
		if _, err := fmt.Sscanf(lines[i], "s%d b%d l0", &si, &bj); err != nil {
			t.Fatalf("line %d %q: %v", i, lines[i], err)
		}
		for k := range 3 {
			if want := fmt.Sprintf("s%d b%d l%d", si, bj, k); lines[i+k] != want {
				t.Fatalf("line %d = %q, want %q: a batch was split or reused", i+k, lines[i+k], want)
			}
		}
		if seen[lines[i]] {
			t.Fatalf("%q twice", lines[i])
		}
		seen[lines[i]] = true
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWriterSinkFlushesQuietStream: a lone line is written through at once.
func TestWriterSinkFlushesQuietStream(t *testing.T) {
	var w chunkWriter
	s := newWriterSink(&w)
	if err := s.Write(nil, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if w.b.String() != "hello\n" {
		t.Fatalf("after one Write the writer holds %q, want the line", w.b.String())
	}
}
