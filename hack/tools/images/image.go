package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Non-root user and group of every image, as distroless's "nonroot".
const (
	nonroot     = 65532
	nonrootHome = "/home/nonroot"
	binDir      = "/usr/bin"
	caBundle    = "/etc/ssl/certs/ca-certificates.crt"
)

// Spec describes one image: a binary on a distroless-like base.
type Spec struct {
	Name     string    // image and binary name, e.g. zz-extender
	Binary   string    // the binary on this machine, built for Platform
	Version  string    // org.opencontainers.image.version
	Revision string    // org.opencontainers.image.revision (the commit)
	Source   string    // org.opencontainers.image.source (the repository URL)
	Created  time.Time // every timestamp in the image (SOURCE_DATE_EPOCH)
	CACerts  string    // CA bundle copied to /etc/ssl/certs/ca-certificates.crt
	Platform v1.Platform
	// CrossLibs is where the libraries of a cgo binary for another
	// architecture are read from; empty: Debian's cross C library,
	// /usr/<triple>/lib (crossbuild-essential-<arch>).
	CrossLibs string
}

// Entrypoint is where the binary lies in the image.
func (s Spec) Entrypoint() string { return filepath.Join(binDir, s.Name) }

// layerSpec is one layer's files and its history line.
type layerSpec struct {
	files []file
	by    string
}

// Build assembles the image: a base layer (users, CA certificates, /tmp, a
// nonroot home), a layer of the shared libraries the binary links (none for a
// static binary), and the binary, run as 65532:65532.
func Build(s Spec) (v1.Image, error) {
	base, err := baseFiles(s.CACerts)
	if err != nil {
		return nil, err
	}
	layers := []layerSpec{{base, "zz images: base (passwd, group, nsswitch.conf, CA certificates, /tmp, " + nonrootHome + ")"}}

	libs, err := libLayer(s)
	if err != nil {
		return nil, err
	}
	if libs != nil {
		layers = append(layers, *libs)
	}

	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, err
	}
	layers = append(layers, layerSpec{[]file{{Path: s.Entrypoint(), Mode: 0o755, Data: bin}}, "zz images: " + s.Entrypoint()})

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	created := v1.Time{Time: s.Created.UTC()}
	for _, l := range layers {
		layer, err := newLayer(l.files, s.Created)
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:     layer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: created, CreatedBy: l.by},
		})
		if err != nil {
			return nil, err
		}
	}

	return configure(img, s)
}

// configure sets the image's config: platform, creation time, user 65532,
// entrypoint, environment and labels.
func configure(img v1.Image, s Spec) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: s.Created.UTC()}
	cf.OS = s.Platform.OS
	cf.Architecture = s.Platform.Architecture
	cf.Variant = s.Platform.Variant
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", nonroot, nonroot),
		Entrypoint: []string{s.Entrypoint()},
		WorkingDir: nonrootHome,
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"SSL_CERT_FILE=" + caBundle,
		},
		Labels: Labels(s),
	}
	return mutate.ConfigFile(img, cf)
}

// libLayer holds the loader and shared libraries of a dynamic binary; nil for
// a static one. For this host's architecture they are the host's own, as ldd
// resolves them; for another, Debian's cross C library of that architecture
// (the same glibc release), resolved from the ELF headers.
func libLayer(s Spec) (*layerSpec, error) {
	arch, err := elfArch(s.Binary)
	if err != nil {
		return nil, err
	}
	if arch != s.Platform.Architecture {
		return nil, fmt.Errorf("%s is built for %s, not for the image's platform %s", s.Binary, arch, s.Platform.String())
	}
	dyn, err := dynamic(s.Binary)
	if err != nil || !dyn {
		return nil, err
	}
	var libs []lib
	from := "the build host"
	if foreign(arch) {
		dir := s.CrossLibs
		if dir == "" {
			if dir, err = crossLibDir(arch); err != nil {
				return nil, err
			}
		}
		if libs, err = crossLibs(s.Binary, dir, arch); err != nil {
			return nil, err
		}
		from = "Debian's cross C library " + dir
	} else {
		paths, err := sharedLibs(s.Binary)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			libs = append(libs, lib{Host: p, Path: p})
		}
	}
	files, err := libFiles(libs)
	if err != nil {
		return nil, err
	}
	hosts := make([]string, len(libs))
	for i, l := range libs {
		hosts[i] = l.Host
	}
	files = append(files, copyrights(hosts)...)
	return &layerSpec{files, fmt.Sprintf("zz images: shared libraries of %s from %s (%d files)", s.Name, from, len(libs))}, nil
}

// Labels are the image's OCI annotations (as config labels).
func Labels(s Spec) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    s.Name,
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.source":   s.Source,
		"org.opencontainers.image.created":  s.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
}

// baseFiles is what distroless/static-debian12 gives a Go binary: root,
// nobody and nonroot users, name-service config, the CA bundle, a sticky /tmp
// and a home for nonroot.
func baseFiles(caCerts string) ([]file, error) {
	ca, err := os.ReadFile(caCerts)
	if err != nil {
		return nil, fmt.Errorf("read the CA bundle: %w (on Debian: apt-get install ca-certificates)", err)
	}
	files := []file{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
				fmt.Sprintf("nonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", nonroot, nonroot, nonrootHome))},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(
			"root:x:0:\nnobody:x:65534:\n" + fmt.Sprintf("nonroot:x:%d:\n", nonroot))},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Data: []byte("hosts: files dns\n")},
		{Path: caBundle, Mode: 0o644, Data: ca},
		{Path: "/tmp", Mode: 0o1777, Dir: true},
		{Path: "/root", Mode: 0o700, Dir: true},
		{Path: nonrootHome, Mode: 0o700, Dir: true, UID: nonroot, GID: nonroot},
	}
	return append(files, copyrights([]string{"/usr/share/ca-certificates"})...), nil
}

// copyrights returns the copyright files of the Debian packages paths come from.
func copyrights(paths []string) []file {
	seen := map[string]bool{}
	var files []file
	for _, p := range paths {
		c, ok := packageCopyright(p)
		if !ok || seen[c] {
			continue
		}
		seen[c] = true
		if data, err := os.ReadFile(c); err == nil {
			files = append(files, file{Path: c, Mode: 0o644, Data: data})
		}
	}
	return files
}
