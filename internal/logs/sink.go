package logs

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// sink receives formatted lines from every stream concurrently.
type sink interface {
	// Write takes one or more complete formatted lines of src. b is reused
	// once Write returns: the sink copies what it keeps.
	Write(src *Source, b []byte) error
	// Done says src's stream ended: the sink writes out what it holds for it
	// and releases it (a file is closed), so a long follow through pod churn
	// holds nothing for streams that are gone.
	Done(src *Source) error
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

// Done is a no-op: the last stream in Write flushes.
func (s *writerSink) Done(*Source) error { return nil }

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
// or .log.gz with Gzip; folders 0700 and files 0600 (logs hold what apps
// print: tokens, personal data). Every name must be one local path element
// (a context named ../x must not write outside DIR). A file is open while a
// stream of its source writes to it and closed when the last one is Done.
// Files are appended to, so a restarted container or a second run adds to
// the same file (a gzip file then holds several members, which gzip and zcat
// read as one).
type dirSink struct {
	dir  string
	gzip bool

	mu    sync.Mutex
	files map[string]*sourceFile
}

type sourceFile struct {
	// holders are the streams writing to the file (guarded by dirSink.mu).
	holders map[*Source]bool

	mu sync.Mutex
	f  *os.File
	bw *bufio.Writer
	zw *gzip.Writer
}

func newDirSink(dir string, gz bool) *dirSink {
	return &dirSink{dir: dir, gzip: gz, files: map[string]*sourceFile{}}
}

// SafeName checks that name stays under the output folder: each of its
// slash-separated elements is local (filepath.IsLocal: not empty, not "..",
// not absolute) and not ".". An EKS context (arn:...:cluster/prod) becomes
// two nested folders; "../x" and "/etc" are refused.
func SafeName(what, name string) error {
	for _, e := range strings.Split(name, "/") {
		if !filepath.IsLocal(e) || e == "." {
			return fmt.Errorf("%s %q cannot name a folder or file under --output-dir: %q is not a plain path element", what, name, e)
		}
	}
	return nil
}

// Path is the file of a source.
func (s *dirSink) Path(src *Source) (string, error) {
	cluster := src.Cluster
	if cluster == "" {
		cluster = "current"
	}
	name := src.Container + ".log"
	if src.Previous {
		name = src.Container + ".previous.log" // beside the current run's file
	}
	if s.gzip {
		name += ".gz"
	}
	for _, e := range []struct{ what, name string }{
		{"context", cluster}, {"namespace", src.Namespace}, {"pod", src.Pod}, {"container", src.Container},
	} {
		if err := SafeName(e.what, e.name); err != nil {
			return "", err
		}
	}
	return filepath.Join(s.dir, cluster, src.Namespace, src.Pod, name), nil
}

func (s *dirSink) Write(src *Source, b []byte) error {
	path, err := s.Path(src)
	if err != nil {
		return err
	}
	s.mu.Lock()
	sf, ok := s.files[path]
	if !ok {
		if sf, err = s.open(path); err != nil {
			s.mu.Unlock()
			return err
		}
		s.files[path] = sf
	}
	sf.holders[src] = true
	s.mu.Unlock()
	sf.mu.Lock()
	defer sf.mu.Unlock()
	_, err = sf.bw.Write(b)
	return err
}

func (s *dirSink) open(path string) (*sourceFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	sf := &sourceFile{f: f, holders: map[*Source]bool{}}
	if s.gzip {
		sf.zw = gzip.NewWriter(f)
		sf.bw = bufio.NewWriter(sf.zw)
	} else {
		sf.bw = bufio.NewWriter(f)
	}
	return sf, nil
}

// Done writes out what is buffered for src and, when no other stream
// writes to its file, closes the file.
func (s *dirSink) Done(src *Source) error {
	path, err := s.Path(src)
	if err != nil {
		return nil // never opened
	}
	s.mu.Lock()
	sf := s.files[path]
	if sf == nil {
		s.mu.Unlock()
		return nil
	}
	delete(sf.holders, src)
	last := len(sf.holders) == 0
	if last {
		delete(s.files, path)
	}
	s.mu.Unlock()
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if !last {
		return sf.bw.Flush()
	}
	return sf.close(path)
}

// close flushes and closes the file (sf.mu held).
func (sf *sourceFile) close(path string) error {
	err := sf.bw.Flush()
	if sf.zw != nil && err == nil {
		err = sf.zw.Close()
	}
	if cerr := sf.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Close flushes and closes every file still open.
func (s *dirSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for path, sf := range s.files {
		sf.mu.Lock()
		if err := sf.close(path); err != nil {
			errs = append(errs, err)
		}
		sf.mu.Unlock()
		delete(s.files, path)
	}
	return errors.Join(errs...)
}
