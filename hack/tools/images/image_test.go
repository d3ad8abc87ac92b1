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
	t.Helper()
	dir := t.TempDir()
	src := tinyMain
	env := "CGO_ENABLED=0"
	if cgo {
		if _, err := exec.LookPath("gcc"); err != nil {
			t.Skip("no gcc: cannot build a cgo binary")
		}
		src = strings.Replace(src, "import (", "// int answer(void) { return 42; }\nimport \"C\"\n\nimport (", 1)
		src = strings.Replace(src, "os.Exit(2)", "os.Exit(int(C.answer()))", 1)
		env = "CGO_ENABLED=1"
	}
	for f, body := range map[string]string{"main.go": src, "go.mod": "module tiny\n\ngo 1.26\n"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "tiny")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env, "GOFLAGS=-buildvcs=false")
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
	img, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	back := roundTrip(t, img)
	if err := Check(back, s); err != nil {
		t.Fatal(err)
	}
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
	img, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	back := roundTrip(t, img)
	if err := Check(back, s); err != nil {
		t.Fatal(err)
	}
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
