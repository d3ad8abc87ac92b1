package main

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// tinyMain prints the banner the zz servers print for --version.
const tinyMain = `package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("tiny v1.2.3 abc1234 uid", os.Getuid())
		return
	}
	os.Exit(2)
}
`

// buildTiny compiles tinyMain (with cgo: a dynamic binary) into dir.
func buildTiny(t *testing.T, cgo bool) string {
	return buildTinyFor(t, cgo, runtime.GOARCH)
}

// buildTinyFor compiles tinyMain for linux/arch; a cgo build for another
// architecture uses Debian's cross compiler (hack/cross-toolchain.sh).
func buildTinyFor(t *testing.T, cgo bool, arch string) string {
	t.Helper()
	dir := t.TempDir()
	src := tinyMain
	env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch}
	if cgo {
		cc := "gcc"
		if foreign(arch) {
			cc = gnuTriples[arch] + "-gcc"
		}
		if _, err := exec.LookPath(cc); err != nil {
			t.Skipf("no %s: cannot build a cgo binary for %s (hack/cross-toolchain.sh %s installs it)", cc, arch, arch)
		}
		src = strings.Replace(src, "import (", "// int answer(void) { return 42; }\nimport \"C\"\n\nimport (", 1)
		src = strings.Replace(src, "os.Exit(2)", "os.Exit(int(C.answer()))", 1)
		env = []string{"CGO_ENABLED=1", "CC=" + cc, "GOOS=linux", "GOARCH=" + arch}
	}
	for f, body := range map[string]string{"main.go": src, "go.mod": "module tiny\n\ngo 1.26\n"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "tiny")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func testSpec(bin string) Spec {
	return Spec{
		Name: "tiny", Binary: bin, Version: "v1.2.3", Revision: "abc1234",
		Source: "https://example.com/tiny", Created: time.Unix(1700000000, 0).UTC(),
		CACerts:  "/etc/ssl/certs/ca-certificates.crt",
		Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
	}
}

// roundTrip writes img as a docker tarball and reads it back.
// buildChecked builds s, writes the image to a tarball and reads it back,
// and checks what came back against s: the image and its read-back copy.
func buildChecked(t *testing.T, s Spec) (img, back v1.Image) {
	t.Helper()
	img, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	back = roundTrip(t, img)
	if err := Check(back, s); err != nil {
		t.Fatal(err)
	}
	return img, back
}

func roundTrip(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
	tag, err := name.NewTag("zzcloud/tiny:v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny.tar")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(back); err != nil {
		t.Fatalf("the tarball's image is inconsistent: %v", err)
	}
	return back
}

// entries lists the flattened filesystem: path -> header.
func entries(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	got := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got["/"+strings.TrimSuffix(h.Name, "/")] = h
	}
}

func TestStaticImage(t *testing.T) {
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Skip("no CA bundle on this host")
	}
	s := testSpec(buildTiny(t, false))
	img, back := buildChecked(t, s)
	cf, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || !slices.Equal(cf.Config.Entrypoint, []string{"/usr/bin/tiny"}) {
		t.Errorf("user %q entrypoint %q", cf.Config.User, cf.Config.Entrypoint)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  "v1.2.3",
		"org.opencontainers.image.revision": "abc1234",
		"org.opencontainers.image.source":   "https://example.com/tiny",
	} {
		if got := cf.Config.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if !cf.Created.Time.Equal(s.Created) {
		t.Errorf("created %v, want %v", cf.Created, s.Created)
	}
	layers, _ := back.Layers()
	if len(layers) != 2 {
		t.Errorf("a static binary gets 2 layers (base, binary), got %d", len(layers))
	}

	checkStaticFiles(t, entries(t, back), s.Created)

	// Reproducible: the same inputs give the same digest.
	again, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds of the same inputs differ: %s and %s", d1, d2)
	}

	runVersion(t, back, "tiny v1.2.3 abc1234")
}

// checkStaticFiles checks the files, modes, owners and times of a static
// binary's image.
func checkStaticFiles(t *testing.T, files map[string]*tar.Header, created time.Time) {
	t.Helper()
	for p, want := range map[string]struct {
		mode     int64
		uid, gid int
	}{
		"/etc/passwd":                        {0o644, 0, 0},
		"/etc/group":                         {0o644, 0, 0},
		"/etc/nsswitch.conf":                 {0o644, 0, 0},
		"/etc/ssl/certs/ca-certificates.crt": {0o644, 0, 0},
		"/tmp":                               {0o1777, 0, 0},
		"/home/nonroot":                      {0o700, 65532, 65532},
		"/usr/bin/tiny":                      {0o755, 0, 0},
	} {
		h, ok := files[p]
		if !ok {
			t.Errorf("%s is missing from the image", p)
			continue
		}
		if h.Mode != want.mode || h.Uid != want.uid || h.Gid != want.gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", p, h.Mode, h.Uid, h.Gid, want.mode, want.uid, want.gid)
		}
		if !h.ModTime.Equal(created) {
			t.Errorf("%s: mtime %v, want %v", p, h.ModTime, created)
		}
	}
	for p := range files {
		if strings.HasPrefix(p, "/lib") {
			t.Errorf("a static binary's image carries %s", p)
		}
	}
}

// TestDynamicImage builds a cgo binary: its image must carry the loader and
// libc, and run chrooted into its own filesystem.
func TestDynamicImage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ldd and chroot: Linux only")
	}
	s := testSpec(buildTiny(t, true))
	_, back := buildChecked(t, s)
	layers, _ := back.Layers()
	if len(layers) != 3 {
		t.Errorf("a dynamic binary gets 3 layers (base, libraries, binary), got %d", len(layers))
	}
	files := entries(t, back)
	var libc, loader bool
	for p := range files {
		libc = libc || strings.HasSuffix(p, "/libc.so.6")
		loader = loader || strings.Contains(p, "/ld-linux")
	}
	if !libc || !loader {
		t.Errorf("the image lacks libc (%v) or the loader (%v)", libc, loader)
	}
	runVersion(t, back, "tiny v1.2.3 abc1234")
}

// runVersion extracts img and runs its entrypoint --version chrooted into it.
func runVersion(t *testing.T, img v1.Image, want string) {
	t.Helper()
	rootfs := t.TempDir()
	if err := Extract(img, rootfs); err != nil {
		t.Fatal(err)
	}
	out, err := RunEntrypoint(context.Background(), img, rootfs, "--version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, want) {
		t.Errorf("--version printed %q, want %q", out, want)
	}
	if os.Geteuid() == 0 && !strings.Contains(out, "uid 65532") {
		t.Errorf("the entrypoint did not run as 65532: %q", out)
	}
}

func TestParseLdd(t *testing.T) {
	out := `	linux-vdso.so.1 (0x00007ffd)
	libresolv.so.2 => /lib/x86_64-linux-gnu/libresolv.so.2 (0x00007f)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
	/lib64/ld-linux-x86-64.so.2 (0x00007f)
`
	got, err := parseLdd([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libresolv.so.2", "/lib64/ld-linux-x86-64.so.2"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := parseLdd([]byte("\tlibnvidia-ml.so.1 => not found\n")); err == nil {
		t.Error("a missing library passed")
	}
}

func TestTarLayerIsSortedWithParents(t *testing.T) {
	mtime := time.Unix(1, 0)
	a, err := tarLayer([]file{{Path: "/usr/bin/x", Mode: 0o755, Data: []byte("x")}, {Path: "/etc/a", Mode: 0o644}}, mtime)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tarLayer([]file{{Path: "/etc/a", Mode: 0o644}, {Path: "/usr/bin/x", Mode: 0o755, Data: []byte("x")}}, mtime)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(b) {
		t.Error("the order of the files changed the layer")
	}
	tr := tar.NewReader(strings.NewReader(string(a)))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if want := []string{"etc/", "etc/a", "usr/", "usr/bin/", "usr/bin/x"}; !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
}

// needQemu skips unless the static qemu-user for arch is installed.
func needQemu(t *testing.T, arch string) {
	t.Helper()
	if _, err := qemuStatic(arch); err != nil {
		t.Skipf("cannot run a %s image here: %v", arch, err)
	}
}

// otherArch is the architecture of the images this host cross-builds.
func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

// TestForeignImages builds images for the other architecture (arm64 on an
// amd64 host): a static binary gets the base and binary layers; a cgo binary
// also gets the loader at its PT_INTERP path and libc in /lib/<triple>/, from
// Debian's cross C library; both run --version chrooted into their own files
// under qemu-user-static.
func TestForeignImages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("chroot: Linux only")
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Skip("no CA bundle on this host")
	}
	arch := otherArch()
	for _, tc := range []struct {
		name       string
		cgo        bool
		layers     int
		wantInImg  []string
		wantAbsent string
	}{
		{name: "static", layers: 2, wantAbsent: "/lib"},
		{name: "cgo", cgo: true, layers: 3, wantInImg: map[string][]string{
			"arm64": {"/lib/ld-linux-aarch64.so.1", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/share/doc/libc6-arm64-cross/copyright"},
			"amd64": {"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"},
		}[arch]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec(buildTinyFor(t, tc.cgo, arch))
			s.Platform.Architecture = arch
			_, back := buildChecked(t, s)
			if layers, _ := back.Layers(); len(layers) != tc.layers {
				t.Errorf("%d layers, want %d", len(layers), tc.layers)
			}
			files := entries(t, back)
			for _, p := range tc.wantInImg {
				if _, ok := files[p]; !ok {
					t.Errorf("%s is missing from the image", p)
				}
			}
			for p := range files {
				if tc.wantAbsent != "" && strings.HasPrefix(p, tc.wantAbsent) {
					t.Errorf("the image carries %s", p)
				}
			}
			needQemu(t, arch)
			runVersion(t, back, "tiny v1.2.3 abc1234")
		})
	}
}

// TestBuildRefusesWrongArch: a binary built for one architecture in an image
// for another fails the build, not the node.
func TestBuildRefusesWrongArch(t *testing.T) {
	s := testSpec(buildTiny(t, false))
	s.Platform.Architecture = otherArch()
	if _, err := Build(s); err == nil || !strings.Contains(err.Error(), "not for the image's platform") {
		t.Fatalf("Build = %v, want a wrong-architecture error", err)
	}
}

// TestRunMultiPlatform runs the tool as make images does, for both
// architectures: one docker tarball per platform, one OCI image index per
// image listing both platform manifests, and digests.txt pinning the index.
func TestRunMultiPlatform(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("chroot: Linux only")
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Skip("no CA bundle on this host")
	}
	needQemu(t, otherArch())
	bins := t.TempDir()
	plats := []v1.Platform{{OS: "linux", Architecture: runtime.GOARCH}, {OS: "linux", Architecture: otherArch()}}
	for _, p := range plats {
		dir := filepath.Join(bins, p.OS+"-"+p.Architecture)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(buildTinyFor(t, false, p.Architecture), filepath.Join(dir, "tiny")); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	o := options{out: out, repo: "zzcloud", version: "v1.2.3", revision: "abc1234", source: "https://example.com/tiny",
		epoch: 1700000000, caCerts: caBundle, platforms: plats[0].String() + "," + plats[1].String(),
		images: []string{"tiny=" + filepath.Join(bins, "{os}-{arch}", "tiny")}}
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tiny.tar", "tiny-linux-" + otherArch() + ".tar", "oci/index.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	top, err := layout.ImageIndexFromPath(filepath.Join(out, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	digests, err := os.ReadFile(filepath.Join(out, "digests.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "tiny " + im.Manifests[0].Digest.String() + "\n"; string(digests) != want {
		t.Errorf("digests.txt = %q, want the index's digest %q", digests, want)
	}
	// The layout check catches an index whose platforms differ from those asked for.
	reversed := []v1.Platform{plats[1], plats[0]}
	if err := CheckLayout(filepath.Join(out, "oci"), "zzcloud", "v1.2.3", reversed, o.images); err == nil {
		t.Error("CheckLayout passed with the platforms in the wrong order")
	}
	if err := CheckLayout(filepath.Join(out, "oci"), "zzcloud", "v9", plats, o.images); err == nil {
		t.Error("CheckLayout passed with the wrong tag")
	}
	// Same inputs, same index digest.
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(filepath.Join(out, "digests.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(digests) {
		t.Errorf("two runs on the same inputs differ: %q and %q", digests, again)
	}
}
