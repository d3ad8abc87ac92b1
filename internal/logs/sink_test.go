package logs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// TestDirSinkPaths: every name is one local path element; files are 0600 in
// 0700 folders.
func TestDirSinkPaths(t *testing.T) {
	tests := []struct {
		src     Source
		want    string // path under the dir, or the error
		wantErr bool
	}{
		{src: Source{Cluster: "prod", Namespace: "ns", Pod: "p", Container: "c"}, want: "prod/ns/p/c.log"},
		{src: Source{Namespace: "ns", Pod: "p", Container: "c"}, want: "current/ns/p/c.log"},
		{src: Source{Cluster: "arn:aws:eks:eu-west-1:1:cluster/prod", Namespace: "ns", Pod: "p", Container: "c"}, want: "arn:aws:eks:eu-west-1:1:cluster/prod/ns/p/c.log"},
		{src: Source{Cluster: "../x", Namespace: "ns", Pod: "p", Container: "c"}, want: `context "../x" cannot name`, wantErr: true},
		{src: Source{Cluster: "a/../../b", Namespace: "ns", Pod: "p", Container: "c"}, want: `context "a/../../b"`, wantErr: true},
		{src: Source{Cluster: "/etc", Namespace: "ns", Pod: "p", Container: "c"}, want: `context "/etc"`, wantErr: true},
		{src: Source{Cluster: ".", Namespace: "ns", Pod: "p", Container: "c"}, want: `context "."`, wantErr: true},
		{src: Source{Cluster: "a", Namespace: "..", Pod: "p", Container: "c"}, want: `namespace ".."`, wantErr: true},
		{src: Source{Cluster: "a", Namespace: "ns", Pod: "", Container: "c"}, want: `pod ""`, wantErr: true},
		{src: Source{Cluster: "a", Namespace: "ns", Pod: "p", Container: "../c"}, want: `container "../c"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.src.Cluster+"/"+tt.src.Namespace+"/"+tt.src.Pod+"/"+tt.src.Container, func(t *testing.T) {
			dir := t.TempDir()
			s := newDirSink(filepath.Join(dir, "out"), false)
			src := tt.src
			err := s.Write(&src, []byte("line\n"))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Fatalf("something was written: %v", entries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Done(&src); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "out", tt.want)
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("file %s: %v, mode %v; want 0600", path, err, fi.Mode())
			}
			for d := filepath.Dir(path); d != dir; d = filepath.Dir(d) {
				if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
					t.Fatalf("folder %s: %v, mode %v; want 0700", d, err, fi.Mode())
				}
			}
		})
	}
}

// TestDirSinkClosesEndedStreams: a follow through pod churn (streams that
// start, write and end) keeps no file open for ended streams: descriptors do
// not grow with the number of pods seen; a file two streams share (a
// restarted container) stays open until both are done.
func TestDirSinkClosesEndedStreams(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%t", gz), func(t *testing.T) {
			dir := t.TempDir()
			s := newDirSink(dir, gz)
			fds := openFDs(t)
			for i := range 500 {
				src := &Source{Cluster: "c", Namespace: "ns", Pod: fmt.Sprintf("pod-%d", i), Container: "app"}
				if err := s.Write(src, []byte("hello\n")); err != nil {
					t.Fatal(err)
				}
				if err := s.Done(src); err != nil {
					t.Fatal(err)
				}
			}
			if n := len(s.files); n != 0 {
				t.Fatalf("%d files still held after every stream ended", n)
			}
			if grown := openFDs(t) - fds; grown > 5 {
				t.Fatalf("%d more descriptors open after 500 ended streams", grown)
			}
			// Two streams of one source: the file stays open for the second.
			a := &Source{Cluster: "c", Namespace: "ns", Pod: "p", Container: "app"}
			b := &Source{Cluster: "c", Namespace: "ns", Pod: "p", Container: "app"}
			for _, src := range []*Source{a, b} {
				if err := s.Write(src, []byte("x\n")); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Done(a); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(b, []byte("y\n")); err != nil {
				t.Fatal(err)
			}
			if err := s.Done(b); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil || len(s.files) != 0 {
				t.Fatalf("close: %v, %d files", err, len(s.files))
			}
			got := readLog(t, filepath.Join(dir, "c", "ns", "p", "app.log"), gz)
			if got != "x\nx\ny\n" {
				t.Fatalf("shared file = %q", got)
			}
		})
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(entries)
}

func readLog(t *testing.T, path string, gz bool) string {
	t.Helper()
	if gz {
		path += ".gz"
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if gz {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
