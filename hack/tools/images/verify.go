package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// Check reads back what an image says about itself and compares it with s:
// non-root user, entrypoint, platform and labels.
func Check(img v1.Image, s Spec) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	var errs []error
	if want := fmt.Sprintf("%d:%d", nonroot, nonroot); cf.Config.User != want {
		errs = append(errs, fmt.Errorf("user is %q, want %q", cf.Config.User, want))
	}
	if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != s.Entrypoint() {
		errs = append(errs, fmt.Errorf("entrypoint is %q, want [%s]", cf.Config.Entrypoint, s.Entrypoint()))
	}
	if cf.OS != s.Platform.OS || cf.Architecture != s.Platform.Architecture {
		errs = append(errs, fmt.Errorf("platform is %s/%s, want %s/%s", cf.OS, cf.Architecture, s.Platform.OS, s.Platform.Architecture))
	}
	for k, v := range Labels(s) {
		if got := cf.Config.Labels[k]; got != v {
			errs = append(errs, fmt.Errorf("label %s is %q, want %q", k, got, v))
		}
	}
	return errors.Join(errs...)
}

// Extract writes the image's filesystem (every layer applied) under dir, with
// the modes of the image; owners are kept only when running as root.
func Extract(img v1.Image, dir string) error {
	// The image's / is 0755 (a temporary folder is 0700): the user 65532 must
	// be able to walk it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	asRoot := os.Geteuid() == 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean("/" + h.Name)
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: entry type %q is not one this tool writes", h.Name, h.Typeflag)
		}
		if err := os.Chmod(target, os.FileMode(h.Mode).Perm()|modeBits(h.Mode)); err != nil {
			return err
		}
		if asRoot {
			if err := os.Lchown(target, h.Uid, h.Gid); err != nil {
				return err
			}
		}
	}
}

func modeBits(m int64) os.FileMode {
	var fm os.FileMode
	if m&0o1000 != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// RunEntrypoint runs the image's entrypoint with args inside rootfs (an
// Extract), chrooted, so it finds only what the image holds: the loader and
// libraries of a dynamic binary included. As root it runs as the image's user
// 65532; otherwise in a user namespace (root mapped to the caller). An image
// for another architecture runs under Debian's static qemu-user, copied into
// rootfs (not into the image) as its only addition: the emulated binary still
// finds only the image's loader and libraries.
func RunEntrypoint(ctx context.Context, img v1.Image, rootfs string, args ...string) (string, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	argv := append(append([]string{}, cf.Config.Entrypoint...), args...)
	if foreign(cf.Architecture) {
		emulator, err := installQemu(rootfs, cf.Architecture)
		if err != nil {
			return "", err
		}
		argv = append([]string{emulator}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Path = argv[0] // resolved inside the chroot, not on this host's PATH
	cmd.Dir = "/"
	cmd.Env = cf.Config.Env
	attr := &syscall.SysProcAttr{Chroot: rootfs}
	if os.Geteuid() == 0 {
		attr.Credential = &syscall.Credential{Uid: nonroot, Gid: nonroot}
	} else {
		attr.Cloneflags = syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	cmd.SysProcAttr = attr
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if errors.Is(err, syscall.EPERM) {
			err = fmt.Errorf("%w (running in the image's root needs root, or unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1)", err)
		}
		return out.String(), fmt.Errorf("run %s in the image: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// installQemu copies the static qemu-user emulator for arch into rootfs and
// returns its path there.
func installQemu(rootfs, arch string) (string, error) {
	q, err := qemuStatic(arch)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(q)
	if err != nil {
		return "", err
	}
	in := "/.zz-" + filepath.Base(q)
	if err := os.WriteFile(filepath.Join(rootfs, in), data, 0o755); err != nil {
		return "", err
	}
	return in, os.Chmod(filepath.Join(rootfs, in), 0o755)
}

// CheckLayout reads the OCI layout back: one image index per image, in the
// order given, named repo/NAME:version, each listing one manifest per
// platform, in order, whose config says the same platform; digests, sizes
// and media types all agree (validate).
func CheckLayout(dir, repo, version string, plats []v1.Platform, images []string) error {
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return err
	}
	if err := validate.Index(top); err != nil {
		return err
	}
	im, err := top.IndexManifest()
	if err != nil {
		return err
	}
	if len(im.Manifests) != len(images) {
		return fmt.Errorf("index.json lists %d entries, want one per image (%d)", len(im.Manifests), len(images))
	}
	var errs []error
	for i, d := range im.Manifests {
		n, _, _ := strings.Cut(images[i], "=")
		if want := repo + "/" + n + ":" + version; d.Annotations["org.opencontainers.image.ref.name"] != want {
			errs = append(errs, fmt.Errorf("entry %d is named %q, want %q", i, d.Annotations["org.opencontainers.image.ref.name"], want))
		}
		if d.MediaType != types.OCIImageIndex {
			errs = append(errs, fmt.Errorf("%s: media type %s, want an image index", n, d.MediaType))
			continue
		}
		idx, err := top.ImageIndex(d.Digest)
		if err != nil {
			return err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		if len(m.Manifests) != len(plats) {
			errs = append(errs, fmt.Errorf("%s: the index lists %d manifests, want one per platform (%d)", n, len(m.Manifests), len(plats)))
			continue
		}
		for j, md := range m.Manifests {
			if md.Platform == nil || !md.Platform.Equals(plats[j]) {
				errs = append(errs, fmt.Errorf("%s: manifest %d is for %v, want %s", n, j, md.Platform, plats[j]))
				continue
			}
			img, err := idx.Image(md.Digest)
			if err != nil {
				return err
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return err
			}
			if cf.OS != plats[j].OS || cf.Architecture != plats[j].Architecture {
				errs = append(errs, fmt.Errorf("%s: the %s manifest's config says %s/%s", n, plats[j], cf.OS, cf.Architecture))
			}
		}
	}
	return errors.Join(errs...)
}
