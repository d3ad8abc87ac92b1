package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
)

// gnuTriples maps a Go architecture to Debian's multiarch triple: the folder
// of its libraries in a Debian image (/lib/<triple>) and the prefix of its
// cross toolchain (/usr/<triple>/lib, <triple>-gcc).
var gnuTriples = map[string]string{
	"amd64": "x86_64-linux-gnu",
	"arm64": "aarch64-linux-gnu",
}

// qemuArch is qemu-user's name for a Go architecture.
var qemuArch = map[string]string{
	"amd64": "x86_64",
	"arm64": "aarch64",
}

// foreign reports whether a linux binary for arch cannot run on this host
// as it is (it needs qemu).
func foreign(arch string) bool { return arch != runtime.GOARCH }

// crossLibDir is where Debian's cross C library for arch lies
// (libc6-ARCH-cross, brought by crossbuild-essential-ARCH).
func crossLibDir(arch string) (string, error) {
	t, ok := gnuTriples[arch]
	if !ok {
		return "", fmt.Errorf("no Debian multiarch triple known for %s", arch)
	}
	return filepath.Join("/usr", t, "lib"), nil
}

// lib is one shared object for an image: read from Host, written at Path.
type lib struct {
	Host, Path string
}

// crossLibs resolves what a binary for another architecture links without
// running it (ldd cannot): its program interpreter (PT_INTERP, kept at that
// path, e.g. /lib/ld-linux-aarch64.so.1) and every DT_NEEDED library,
// transitively, found in dir (Debian's cross C library) and placed where
// Debian's own libc6:ARCH puts them, /lib/<triple>/, a folder the loader
// searches by default.
func crossLibs(binary, dir, arch string) ([]lib, error) {
	triple, ok := gnuTriples[arch]
	if !ok {
		return nil, fmt.Errorf("no Debian multiarch triple known for %s", arch)
	}
	interp, needed, err := elfDeps(binary)
	if err != nil {
		return nil, err
	}
	if interp == "" {
		return nil, fmt.Errorf("%s has no program interpreter", binary)
	}
	host := filepath.Join(dir, path.Base(interp))
	if _, err := os.Stat(host); err != nil {
		return nil, fmt.Errorf("the loader %s: %w (on Debian: hack/cross-toolchain.sh %s)", interp, err, arch)
	}
	libs := map[string]lib{interp: {Host: host, Path: interp}}
	queue := needed
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		p := path.Join("/lib", triple, name)
		if _, ok := libs[p]; ok || name == path.Base(interp) {
			continue
		}
		h := filepath.Join(dir, name)
		if _, err := os.Stat(h); err != nil {
			return nil, fmt.Errorf("%s needs %s, which is not in %s: %w", binary, name, dir, err)
		}
		libs[p] = lib{Host: h, Path: p}
		_, more, err := elfDeps(h)
		if err != nil {
			return nil, err
		}
		queue = append(queue, more...)
	}
	out := make([]lib, 0, len(libs))
	for _, l := range libs {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// elfDeps reads an ELF file's program interpreter and DT_NEEDED entries.
func elfDeps(file string) (interp string, needed []string, err error) {
	f, err := elf.Open(file)
	if err != nil {
		return "", nil, fmt.Errorf("read %s as ELF: %w", file, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", nil, fmt.Errorf("%s: read PT_INTERP: %w", file, err)
		}
		for len(b) > 0 && b[len(b)-1] == 0 {
			b = b[:len(b)-1]
		}
		interp = string(b)
	}
	needed, err = f.ImportedLibraries()
	if err != nil {
		return "", nil, fmt.Errorf("%s: DT_NEEDED: %w", file, err)
	}
	return interp, needed, nil
}

// elfArch is the Go architecture an ELF file is built for.
func elfArch(file string) (string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return "", fmt.Errorf("read %s as ELF: %w", file, err)
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	}
	return "", fmt.Errorf("%s: ELF machine %v is not one this tool builds images for", file, f.Machine)
}

// qemuStatic finds the static qemu-user emulator for arch (Debian's
// qemu-user-static): being static, it runs inside the image's chroot, where
// the image's own loader and libraries are all there is.
func qemuStatic(arch string) (string, error) {
	q, ok := qemuArch[arch]
	if !ok {
		return "", fmt.Errorf("no qemu known for %s", arch)
	}
	p, err := exec.LookPath("qemu-" + q + "-static")
	if err != nil {
		return "", fmt.Errorf("qemu-%s-static: %w (on Debian: hack/cross-toolchain.sh %s installs qemu-user-static)", q, err, arch)
	}
	return p, nil
}
