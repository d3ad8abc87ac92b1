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
	"github.com/google/go-containerregistry/pkg/v1/mutate"
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
// 65532; otherwise in a user namespace (root mapped to the caller).
func RunEntrypoint(ctx context.Context, img v1.Image, rootfs string, args ...string) (string, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	argv := append(append([]string{}, cf.Config.Entrypoint...), args...)
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
