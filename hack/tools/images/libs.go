package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// dynamic reports whether the ELF binary asks for a program interpreter (the
// dynamic loader), that is, links shared libraries. A static Go binary does not.
func dynamic(binary string) (bool, error) {
	f, err := elf.Open(binary)
	if err != nil {
		return false, fmt.Errorf("read %s as ELF: %w", binary, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true, nil
		}
	}
	return false, nil
}

// sharedLibs lists the absolute paths of the loader and every shared library
// binary links, as the host's loader resolves them (ldd). They go into the
// image at the same paths, so the image's loader finds them as the host's does.
func sharedLibs(binary string) ([]string, error) {
	out, err := exec.Command("ldd", binary).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = strings.TrimSpace(string(ee.Stderr))
		}
		return nil, fmt.Errorf("ldd %s: %w %s (a binary for another architecture cannot be inspected on this host)", binary, err, stderr)
	}
	return parseLdd(out)
}

// parseLdd reads ldd's output: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)"
// and "/lib64/ld-linux-x86-64.so.2 (0x...)"; the kernel's vDSO has no file.
func parseLdd(out []byte) ([]string, error) {
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "linux-vdso") || strings.HasPrefix(line, "linux-gate") {
			continue
		}
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("a library is missing on this host: %s", line)
		}
		p := line
		if _, after, ok := strings.Cut(line, "=>"); ok {
			p = strings.TrimSpace(after)
		}
		if i := strings.Index(p, " ("); i >= 0 {
			p = p[:i]
		}
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("cannot read ldd line %q", line)
		}
		seen[filepath.Clean(p)] = true
	}
	libs := make([]string, 0, len(seen))
	for p := range seen {
		libs = append(libs, p)
	}
	sort.Strings(libs)
	return libs, nil
}

// libFiles reads each library (following host symlinks) into a file at the path
// the loader looks for it.
func libFiles(libs []lib) ([]file, error) {
	files := make([]file, 0, len(libs))
	for _, l := range libs {
		data, err := os.ReadFile(l.Host)
		if err != nil {
			return nil, err
		}
		files = append(files, file{Path: l.Path, Mode: 0o755, Data: data})
	}
	return files, nil
}

// packageCopyright finds the Debian package that ships path and returns its
// copyright file, so an image that carries the package's files carries its
// licence too (as distroless does). ok is false off Debian.
func packageCopyright(path string) (string, bool) {
	for _, p := range []string{path, resolved(path)} {
		out, err := exec.Command("dpkg-query", "--search", p).Output()
		if err != nil {
			continue
		}
		pkg, _, ok := strings.Cut(strings.SplitN(string(out), "\n", 2)[0], ":")
		if !ok {
			continue
		}
		c := filepath.Join("/usr/share/doc", pkg, "copyright")
		if _, err := os.Stat(c); err == nil {
			return c, true
		}
	}
	return "", false
}

func resolved(p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return p
	}
	return r
}
