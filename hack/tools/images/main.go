// images builds the zz server images without a Docker engine or a registry:
// a distroless-like base made here (users, CA bundle, /tmp), the shared
// libraries a cgo binary links (taken from this Debian host, as
// distroless/base-debian12 carries Debian's glibc, or for another
// architecture from Debian's cross C library of the same glibc), and the
// binary, run as 65532:65532. Each image is built for every platform, each
// platform's image written as a docker-loadable tarball, and one OCI image
// index per image (listing its platforms) into one OCI layout; every image is
// then read back, checked and run (chrooted into its own filesystem, under
// qemu-user for another architecture) with --version.
//
//	images -out _output/images -version v0.1.0 -revision abc1234 \
//	  -platforms linux/amd64,linux/arm64 zz-extender='path/to/{os}-{arch}/zz-extender' ...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

type options struct {
	out, repo, version, revision, source, caCerts, platforms, crossLibs string
	epoch                                                               int64
	images                                                              []string // NAME=BINARY
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "_output/images", "folder for NAME.tar (docker load; NAME-OS-ARCH.tar for the platforms after the first) and oci/ (an OCI layout: one image index per image)")
	flag.StringVar(&o.repo, "repo", "zzcloud", "repository prefix: images are tagged REPO/NAME:VERSION")
	flag.StringVar(&o.version, "version", "", "image tag and org.opencontainers.image.version; the binaries' --version must print it")
	flag.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision (the commit)")
	flag.StringVar(&o.source, "source", "https://github.com/zzcloud/zz", "org.opencontainers.image.source")
	flag.Int64Var(&o.epoch, "source-date-epoch", 0, "every timestamp in the images, in seconds since 1970 (the commit time makes builds reproducible)")
	flag.StringVar(&o.caCerts, "ca-certs", caBundle, "CA bundle to copy into the images")
	flag.StringVar(&o.platforms, "platforms", "linux/amd64", "comma-separated os/arch list; BINARY's {os} and {arch} are replaced by each")
	flag.StringVar(&o.crossLibs, "cross-libs", "", "where a cgo binary for another architecture finds its loader and libraries (default: Debian's cross C library, /usr/<triple>/lib)")
	flag.Parse()
	o.images = flag.Args()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// binaryFor is the binary of pattern for platform p.
func binaryFor(pattern string, p v1.Platform) string {
	return strings.NewReplacer("{os}", p.OS, "{arch}", p.Architecture).Replace(pattern)
}

// tarballName is the docker tarball of image n for platform p: NAME.tar for
// the first platform, NAME-OS-ARCH.tar for the others (docker load takes one
// platform per tarball).
func tarballName(n string, p v1.Platform, first bool) string {
	if first {
		return n + ".tar"
	}
	return n + "-" + p.OS + "-" + p.Architecture + ".tar"
}

func parsePlatforms(list string) ([]v1.Platform, error) {
	var out []v1.Platform
	seen := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		if p.OS != "linux" {
			return nil, fmt.Errorf("platform %s: the servers run on linux only", p)
		}
		if seen[p.String()] {
			return nil, fmt.Errorf("platform %s given twice", p)
		}
		seen[p.String()] = true
		out = append(out, *p)
	}
	return out, nil
}

func run(ctx context.Context, o options) error {
	if o.version == "" || o.revision == "" || len(o.images) == 0 {
		return fmt.Errorf("need -version, -revision and at least one NAME=BINARY")
	}
	plats, err := parsePlatforms(o.platforms)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	ociDir := filepath.Join(o.out, "oci")
	if err := os.RemoveAll(ociDir); err != nil {
		return err
	}
	lp, err := layout.Write(ociDir, empty.Index)
	if err != nil {
		return err
	}
	// NAME DIGEST per image (the digest of its index), for make release:
	// install.yaml and the Helm chart pin the images by these digests, so a
	// node pulls the manifest of its own platform.
	var digests strings.Builder
	for _, arg := range o.images {
		n, pattern, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME=BINARY", arg)
		}
		tag, err := name.NewTag(o.repo + "/" + n + ":" + o.version)
		if err != nil {
			return fmt.Errorf("image name: %w", err)
		}
		var adds []mutate.IndexAddendum
		for i, p := range plats {
			s := Spec{Name: n, Binary: binaryFor(pattern, p), Version: o.version, Revision: o.revision, Source: o.source,
				Created: time.Unix(o.epoch, 0).UTC(), CACerts: o.caCerts, Platform: p, CrossLibs: o.crossLibs}
			img, err := Build(s)
			if err != nil {
				return fmt.Errorf("%s %s: %w", n, p, err)
			}
			path := filepath.Join(o.out, tarballName(n, p, i == 0))
			if err := tarball.WriteToFile(path, tag, img); err != nil {
				return fmt.Errorf("%s: write %s: %w", n, path, err)
			}
			line, err := verify(ctx, path, tag, s)
			if err != nil {
				return fmt.Errorf("%s %s: the written image fails its check: %w", n, p, err)
			}
			digest, err := img.Digest()
			if err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			fmt.Printf("%s\t%s\t%s\t%s\t%s\n", path, tag, p, digest, line)
			plat := p
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &plat}})
		}
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
		if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": tag.String(),
		})); err != nil {
			return fmt.Errorf("%s: OCI layout: %w", n, err)
		}
		digest, err := idx.Digest()
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		fmt.Printf("%s\t%s\tindex\t%s\n", filepath.Join(ociDir), tag, digest)
		fmt.Fprintf(&digests, "%s %s\n", n, digest)
	}
	if err := os.WriteFile(filepath.Join(o.out, "digests.txt"), []byte(digests.String()), 0o644); err != nil {
		return err
	}
	if err := CheckLayout(ociDir, o.repo, o.version, plats, o.images); err != nil {
		return fmt.Errorf("the OCI layout %s fails its check: %w", ociDir, err)
	}
	fmt.Println(ociDir)
	return nil
}

// verify reads the tarball back, checks its config, and runs its entrypoint
// with --version in its own filesystem; it returns the first line printed.
func verify(ctx context.Context, path string, tag name.Tag, s Spec) (string, error) {
	img, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		return "", err
	}
	// Digests, sizes, diff IDs and media types all agree.
	if err := validate.Image(img); err != nil {
		return "", err
	}
	if err := Check(img, s); err != nil {
		return "", err
	}
	rootfs, err := os.MkdirTemp("", "zz-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(rootfs)
	if err := Extract(img, rootfs); err != nil {
		return "", err
	}
	out, err := RunEntrypoint(ctx, img, rootfs, "--version")
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	if !strings.Contains(line, s.Version) || !strings.Contains(line, s.Revision) {
		return "", fmt.Errorf("--version printed %q, want the version %s and commit %s", line, s.Version, s.Revision)
	}
	if foreign(s.Platform.Architecture) {
		return strconv.Quote(line) + " (qemu-" + qemuArch[s.Platform.Architecture] + "-static)", nil
	}
	return strconv.Quote(line), nil
}
