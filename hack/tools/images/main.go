// images builds the zz server images without a Docker engine or a registry:
// a distroless-like base made here (users, CA bundle, /tmp), the shared
// libraries a cgo binary links (taken from this Debian host, as
// distroless/base-debian12 carries Debian's glibc), and the binary, run as
// 65532:65532. Each image is written as a docker-loadable tarball, all of them
// into one OCI layout, then read back, checked and run (chrooted into its own
// filesystem) with --version.
//
//	images -out _output/images -version v0.1.0 -revision abc1234 zz-extender=path/to/zz-extender ...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

type options struct {
	out, repo, version, revision, source, caCerts, platform string
	epoch                                                   int64
	images                                                  []string // NAME=BINARY
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "_output/images", "folder for NAME.tar (docker load) and oci/ (an OCI layout of every image)")
	flag.StringVar(&o.repo, "repo", "zzcloud", "repository prefix: images are tagged REPO/NAME:VERSION")
	flag.StringVar(&o.version, "version", "", "image tag and org.opencontainers.image.version; the binaries' --version must print it")
	flag.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision (the commit)")
	flag.StringVar(&o.source, "source", "https://github.com/zzcloud/zz", "org.opencontainers.image.source")
	flag.Int64Var(&o.epoch, "source-date-epoch", 0, "every timestamp in the images, in seconds since 1970 (the commit time makes builds reproducible)")
	flag.StringVar(&o.caCerts, "ca-certs", caBundle, "CA bundle to copy into the images")
	flag.StringVar(&o.platform, "platform", "linux/amd64", "the binaries' platform, os/arch")
	flag.Parse()
	o.images = flag.Args()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.version == "" || o.revision == "" || len(o.images) == 0 {
		return fmt.Errorf("need -version, -revision and at least one NAME=BINARY")
	}
	plat, err := v1.ParsePlatform(o.platform)
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
	// NAME DIGEST per image, for make release: install.yaml and the Helm chart
	// pin the images by these digests.
	var digests strings.Builder
	for _, arg := range o.images {
		n, bin, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("%q: want NAME=BINARY", arg)
		}
		s := Spec{Name: n, Binary: bin, Version: o.version, Revision: o.revision, Source: o.source,
			Created: time.Unix(o.epoch, 0).UTC(), CACerts: o.caCerts, Platform: *plat}
		tag, err := name.NewTag(o.repo + "/" + n + ":" + o.version)
		if err != nil {
			return fmt.Errorf("image name: %w", err)
		}
		img, err := Build(s)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		path := filepath.Join(o.out, n+".tar")
		if err := tarball.WriteToFile(path, tag, img); err != nil {
			return fmt.Errorf("%s: write %s: %w", n, path, err)
		}
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": tag.String(),
		})); err != nil {
			return fmt.Errorf("%s: OCI layout: %w", n, err)
		}
		line, err := verify(ctx, path, tag, s)
		if err != nil {
			return fmt.Errorf("%s: the written image fails its check: %w", n, err)
		}
		digest, err := img.Digest()
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		fmt.Printf("%s\t%s\t%s\t%s\n", path, tag, digest, line)
		fmt.Fprintf(&digests, "%s %s\n", n, digest)
	}
	if err := os.WriteFile(filepath.Join(o.out, "digests.txt"), []byte(digests.String()), 0o644); err != nil {
		return err
	}
	idx, err := layout.ImageIndexFromPath(ociDir)
	if err != nil {
		return err
	}
	if err := validate.Index(idx); err != nil {
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
	if s.Platform.OS != "linux" || s.Platform.Architecture != runtime.GOARCH {
		return "(not run: built for " + s.Platform.String() + ")", nil
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
	return strconv.Quote(line), nil
}
