package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func writeFile(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

// TestArchiveIsReproducible: the same files give the same bytes whatever the
// host says about them (mtime, mode, order), entries sorted, times fixed.
func TestArchiveIsReproducible(t *testing.T) {
	dir := t.TempDir()
	bin, lic := filepath.Join(dir, "kubectl-zz"), filepath.Join(dir, "LICENSE")
	writeFile(t, bin, "binary", 0o700)
	writeFile(t, lic, "licence", 0o600)
	mtime := time.Unix(1700000000, 0)
	members := []member{{Name: "kubectl-zz", Src: bin, Mode: 0o755}, {Name: "LICENSE", Src: lic, Mode: 0o644}}

	a := filepath.Join(dir, "a.tar.gz")
	if err := writeTarGz(a, members, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(bin, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bin, 0o777); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(dir, "b.tar.gz")
	if err := writeTarGz(b, []member{members[1], members[0]}, mtime); err != nil {
		t.Fatal(err)
	}
	sa, _ := sha256File(a)
	sb, _ := sha256File(b)
	if sa != sb {
		t.Fatalf("two archives of the same files differ: %s and %s", sa, sb)
	}

	f, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q time %v", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(mtime) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mtime %v owner %d:%d %q:%q", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		got = append(got, h.Name+" "+os.FileMode(h.Mode).String())
	}
	if want := []string{"LICENSE -rw-r--r--", "kubectl-zz -rwxr-xr-x"}; !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
}

func TestManifest(t *testing.T) {
	dir := t.TempDir()
	var archives []Archive
	for _, p := range [][2]string{{"linux", "amd64"}, {"darwin", "arm64"}, {"windows", "amd64"}} {
		path := filepath.Join(dir, ArchiveName("v1.2.3", p[0], p[1]))
		writeFile(t, path, "archive of "+p[0]+"/"+p[1], 0o644)
		archives = append(archives, Archive{OS: p[0], Arch: p[1], Path: path})
	}
	out, err := Manifest("v1.2.3", "https://example.com/{{.Version}}/{{.Archive}}", archives)
	if err != nil {
		t.Fatal(err)
	}
	var m plugin
	if err := yaml.UnmarshalStrict(out, &m); err != nil {
		t.Fatalf("the manifest does not read back: %v\n%s", err, out)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "zz" {
		t.Errorf("header %s %s %s", m.APIVersion, m.Kind, m.Metadata.Name)
	}
	if m.Spec.Version != "v1.2.3" || m.Spec.Homepage == "" || m.Spec.ShortDescription == "" || m.Spec.Description == "" {
		t.Errorf("spec %+v", m.Spec)
	}
	if !strings.Contains(m.Spec.Caveats, "store/zz/v1.2.3/kubectl_complete-zz") {
		t.Errorf("caveats do not say where the completion helper is: %q", m.Spec.Caveats)
	}
	if len(m.Spec.Platforms) != 3 {
		t.Fatalf("%d platforms, want 3", len(m.Spec.Platforms))
	}
	for i, p := range m.Spec.Platforms {
		checkPlatform(t, p, archives[i])
	}

	// The same archives give the same manifest; another archive another sha256.
	again, err := Manifest("v1.2.3", "https://example.com/{{.Version}}/{{.Archive}}", archives)
	if err != nil || !bytes.Equal(out, again) {
		t.Errorf("a second manifest differs (%v)", err)
	}
	writeFile(t, archives[0].Path, "another build", 0o644)
	changed, err := Manifest("v1.2.3", "https://example.com/{{.Version}}/{{.Archive}}", archives)
	if err != nil || bytes.Equal(out, changed) {
		t.Errorf("a changed archive left the manifest as it was (%v)", err)
	}
	if _, err := Manifest("v1.2.3", "https://example.com/{{.Tag}}", archives); err == nil {
		t.Error("a template with an unknown field passed")
	}
}

// checkPlatform checks one platform of the manifest against its archive.
func checkPlatform(t *testing.T, p platform, a Archive) {
	t.Helper()
	want, _ := sha256File(a.Path)
	if p.Sha256 != want {
		t.Errorf("%s/%s: sha256 %s, want %s (of the archive)", a.OS, a.Arch, p.Sha256, want)
	}
	if p.Selector.MatchLabels["os"] != a.OS || p.Selector.MatchLabels["arch"] != a.Arch || len(p.Selector.MatchLabels) != 2 {
		t.Errorf("selector %v for %s/%s", p.Selector.MatchLabels, a.OS, a.Arch)
	}
	if wantURI := "https://example.com/v1.2.3/" + filepath.Base(a.Path); p.URI != wantURI {
		t.Errorf("uri %s, want %s", p.URI, wantURI)
	}
	var froms []string
	for _, f := range p.Files {
		froms = append(froms, f.From)
		if f.To != "." {
			t.Errorf("%s goes to %q", f.From, f.To)
		}
	}
	wantBin, wantFiles := "kubectl-zz", []string{"kubectl-zz", "LICENSE", "kubectl_complete-zz"}
	if a.OS == "windows" {
		wantBin, wantFiles = "kubectl-zz.exe", []string{"kubectl-zz.exe", "LICENSE"}
	}
	if p.Bin != wantBin || !slices.Equal(froms, wantFiles) {
		t.Errorf("%s: bin %s files %q, want %s %q", a.OS, p.Bin, froms, wantBin, wantFiles)
	}
}

func TestCheckVersion(t *testing.T) {
	for _, v := range []string{"v0.1.0", "v1.2.3-rc.1", "v0.0.0-g78b8ff1", "v0.0.0-g78b8ff1-dirty", "v0.1.0-3-gabc1234", "v1.0.0+build.5"} {
		if err := checkVersion(v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
	for _, v := range []string{"", "0.1.0", "78b8ff1", "v1.2", "v01.2.3", "v1.2.3-01", "v1.2.3-"} {
		if err := checkVersion(v); err == nil {
			t.Errorf("%q passed", v)
		}
	}
}
