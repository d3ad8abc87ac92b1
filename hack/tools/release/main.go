// release cross-builds kubectl-zz, packs each platform's binary with LICENSE
// (and, off Windows, the kubectl_complete-zz completion helper) into a
// reproducible .tar.gz, and writes the krew manifest for those archives with
// their sha256 computed here.
//
//	release -version v0.1.0 -ldflags '-s -w -X ...' -out _output/release -manifest krew/zz.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const completionHelper = "kubectl_complete-zz"

// defaultPlatforms is every platform krew users run kubectl on.
const defaultPlatforms = "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64,windows/arm64"

type options struct {
	root, out, manifest, version, ldflags, platforms, uriTemplate string
	epoch                                                         int64
}

func main() {
	var o options
	flag.StringVar(&o.root, "root", ".", "the zz repository")
	flag.StringVar(&o.out, "out", "_output/release", "folder for the archives")
	flag.StringVar(&o.manifest, "manifest", "krew/zz.yaml", "the krew manifest to write")
	flag.StringVar(&o.version, "version", "", "release version, a semantic version with a leading v (krew requires one)")
	flag.StringVar(&o.ldflags, "ldflags", "-s -w", "go build -ldflags (the Makefile stamps version and commit)")
	flag.StringVar(&o.platforms, "platforms", defaultPlatforms, "comma-separated os/arch list")
	flag.StringVar(&o.uriTemplate, "uri-template", "https://github.com/zzcloud/zz/releases/download/{{.Version}}/{{.Archive}}", "where each archive is downloaded from")
	flag.Int64Var(&o.epoch, "source-date-epoch", 0, "mtime of every archive entry, seconds since 1970 (the commit time)")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if err := checkVersion(o.version); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	// Archives of earlier builds would be uploaded with these by mistake.
	stale, err := filepath.Glob(filepath.Join(o.out, "kubectl-zz_*.tar.gz"))
	if err != nil {
		return err
	}
	for _, f := range stale {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	mtime := time.Unix(o.epoch, 0)
	var archives []Archive
	for _, p := range strings.Split(o.platforms, ",") {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok {
			return fmt.Errorf("-platforms: %q is not os/arch", p)
		}
		a, err := buildPlatform(ctx, o, goos, goarch, mtime)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", goos, goarch, err)
		}
		archives = append(archives, a)
		fmt.Println(a.Path)
	}
	m, err := Manifest(o.version, o.uriTemplate, archives)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.manifest), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.manifest, m, 0o644); err != nil {
		return err
	}
	fmt.Println(o.manifest)
	return nil
}

func binaryName(goos string) string {
	if goos == "windows" {
		return "kubectl-zz.exe"
	}
	return "kubectl-zz"
}

// ArchiveName is kubectl-zz_VERSION_OS_ARCH.tar.gz.
func ArchiveName(version, goos, goarch string) string {
	return fmt.Sprintf("kubectl-zz_%s_%s_%s.tar.gz", version, goos, goarch)
}

// buildPlatform builds kubectl-zz for one platform (static, CGO_ENABLED=0) and
// packs it.
func buildPlatform(ctx context.Context, o options, goos, goarch string, mtime time.Time) (Archive, error) {
	root, err := filepath.Abs(o.root)
	if err != nil {
		return Archive{}, err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return Archive{}, err
	}
	dir := filepath.Join(out, "bin", goos+"-"+goarch)
	bin := filepath.Join(dir, binaryName(goos))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", o.ldflags, "-o", bin, "./plugins/kubectl-zz")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return Archive{}, fmt.Errorf("go build: %w", err)
	}
	members := []member{
		{Name: binaryName(goos), Src: bin, Mode: 0o755},
		{Name: "LICENSE", Src: filepath.Join(root, "LICENSE"), Mode: 0o644},
	}
	if goos != "windows" {
		members = append(members, member{Name: completionHelper, Src: filepath.Join(root, "plugins", "kubectl-zz", completionHelper), Mode: 0o755})
	}
	a := Archive{OS: goos, Arch: goarch, Path: filepath.Join(out, ArchiveName(o.version, goos, goarch))}
	return a, writeTarGz(a.Path, members, mtime)
}
