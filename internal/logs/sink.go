package logs

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// sink receives formatted lines from every stream concurrently.
type sink interface {
	// Write takes one or more complete formatted lines of src. b is reused
	// once Write returns: the sink copies what it keeps.
	Write(src *Source, b []byte) error
	// Flush writes out what is buffered for src (a stream paused or ended).
	Flush(src *Source) error
	Close() error
}

// writerSink merges every stream into one writer (stdout) through one
// buffered writer. A stream writes its batch under the lock and the buffer is
// flushed when no other stream is waiting for it: a burst goes out in large
// blocks, a quiet stream shows at once. When stdout is slow, streams wait
// here (and stop reading their responses) instead of queueing copies of their
// lines: memory stays bounded whatever the rate.
type writerSink struct {
	waiting atomic.Int32 // streams in Write, the lock holder included

	mu  sync.Mutex
	bw  *bufio.Writer
	err error
}

func newWriterSink(w io.Writer) *writerSink {
	return &writerSink{bw: bufio.NewWriterSize(w, 32<<10)}
}

func (s *writerSink) Write(_ *Source, b []byte) error {
	s.waiting.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		_, s.err = s.bw.Write(b)
	}
	if s.waiting.Add(-1) == 0 && s.err == nil {
		s.err = s.bw.Flush()
	}
	return s.err
}

// Flush is a no-op: the last stream in Write flushes.
func (s *writerSink) Flush(*Source) error { return nil }

// Close flushes; call it once every stream has ended.
func (s *writerSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = s.bw.Flush()
	}
	return s.err
}

// dirSink writes one file per source: DIR/CLUSTER/NAMESPACE/POD/CONTAINER.log,
// or .log.gz with Gzip. Files are appended to, so a restarted container or a
// second run adds to the same file (a gzip file then holds several members,
// which gzip and zcat read as one).
type dirSink struct {
	dir  string
	gzip bool

	mu    sync.Mutex
	files map[string]*sourceFile
}

type sourceFile struct {
	mu sync.Mutex
	f  *os.File
	bw *bufio.Writer
	zw *gzip.Writer
}

func newDirSink(dir string, gz bool) *dirSink {
	return &dirSink{dir: dir, gzip: gz, files: map[string]*sourceFile{}}
}

// Path is the file of a source.
func (s *dirSink) Path(src *Source) string {
	cluster := src.Cluster
	if cluster == "" {
		cluster = "current"
	}
	name := src.Container + ".log"
	if s.gzip {
		name += ".gz"
	}
	return filepath.Join(s.dir, cluster, src.Namespace, src.Pod, name)
}

func (s *dirSink) Write(src *Source, b []byte) error {
	path := s.Path(src)
	s.mu.Lock()
	sf, ok := s.files[path]
	if !ok {
		var err error
		if sf, err = s.open(path); err != nil {
			s.mu.Unlock()
			return err
		}
		s.files[path] = sf
	}
	s.mu.Unlock()
	sf.mu.Lock()
	defer sf.mu.Unlock()
	_, err := sf.bw.Write(b)
	return err
}

func (s *dirSink) open(path string) (*sourceFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	sf := &sourceFile{f: f}
	if s.gzip {
		sf.zw = gzip.NewWriter(f)
		sf.bw = bufio.NewWriter(sf.zw)
	} else {
		sf.bw = bufio.NewWriter(f)
	}
	return sf, nil
}

// Flush writes what is buffered for src.
func (s *dirSink) Flush(src *Source) error {
	s.mu.Lock()
	sf := s.files[s.Path(src)]
	s.mu.Unlock()
	if sf == nil {
		return nil
	}
	sf.mu.Lock()
	defer sf.mu.Unlock()
	return sf.bw.Flush()
}

// Close flushes and closes every file.
func (s *dirSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for path, sf := range s.files {
		err := sf.bw.Flush()
		if sf.zw != nil && err == nil {
			err = sf.zw.Close()
		}
		if cerr := sf.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", path, err))
		}
	}
	return errors.Join(errs...)
}
