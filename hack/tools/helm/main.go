// Command zz-install writes the release's install assets (make release):
// install.yaml, the default overlay rendered with the release's images (pinned
// by digest when make images recorded them), and the Helm chart
// manifests/helm/zz packaged with the same version and images. Built in the
// module that also builds helm, so both use one helm library.
//
//	zz-install -version v1.2.3 -digests _output/images/digests.txt -out _output/release
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

type options struct {
	root, out, version, imageRepo, digests string
	epoch                                  int64
	chart                                  bool
}

func main() {
	var o options
	flag.StringVar(&o.root, "root", ".", "the zz repository")
	flag.StringVar(&o.out, "out", "_output/release", "folder for install.yaml and zz-VERSION.tgz")
	flag.StringVar(&o.version, "version", "", "release version (v1.2.3...): image tags, chart appVersion; the chart version without the v")
	flag.StringVar(&o.imageRepo, "image-repo", "ghcr.io/zzcloud", "registry and prefix the release's images are pushed to")
	flag.StringVar(&o.digests, "digests", "", "file of NAME DIGEST lines (make images writes _output/images/digests.txt); images named there are pinned")
	flag.BoolVar(&o.chart, "chart", true, "also package the chart (false: install.yaml only, e.g. of a release that had no chart)")
	flag.Int64Var(&o.epoch, "source-date-epoch", 0, "mtime of every file in the chart archive, seconds since 1970 (the commit time)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// images are the release's images: the kustomize name the overlays use, the
// chart's values key.
var images = []struct{ name, valuesKey string }{
	{"zz-extender", "extender"},
	{"zz-webhook", "webhook"},
	{"zz-device-plugin", "devicePlugin"},
}

// Image is one release image reference.
type Image struct{ Repository, Tag, Digest string }

func (i Image) String() string {
	s := i.Repository + ":" + i.Tag
	if i.Digest != "" {
		s += "@" + i.Digest
	}
	return s
}

func run(o options) error {
	if !strings.HasPrefix(o.version, "v") {
		return fmt.Errorf("-version %q: want a version with a leading v", o.version)
	}
	digests, err := readDigests(o.digests)
	if err != nil {
		return err
	}
	refs := map[string]Image{}
	for _, im := range images {
		refs[im.name] = Image{Repository: o.imageRepo + "/" + im.name, Tag: o.version, Digest: digests[im.name]}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	y, err := InstallYAML(filepath.Join(o.root, "manifests"), "overlays/default", refs)
	if err != nil {
		return err
	}
	path := filepath.Join(o.out, "install.yaml")
	if err := os.WriteFile(path, y, 0o644); err != nil {
		return err
	}
	fmt.Println(path)
	if !o.chart {
		return nil
	}
	pkg, err := PackageChart(filepath.Join(o.root, "manifests", "helm", "zz"), o.version, refs, time.Unix(o.epoch, 0).UTC(), o.out)
	if err != nil {
		return err
	}
	fmt.Println(pkg)
	return nil
}

// readDigests reads NAME DIGEST lines; no file means no digests.
func readDigests(path string) (map[string]string, error) {
	out := map[string]string{}
	if path == "" {
		return out, nil
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 || !strings.HasPrefix(fields[1], "sha256:") {
			return nil, fmt.Errorf("%s: %q is not NAME sha256:DIGEST", path, sc.Text())
		}
		out[fields[0]] = fields[1]
	}
	return out, sc.Err()
}

// InstallYAML renders the overlay with the release's images.
func InstallYAML(manifests, overlay string, refs map[string]Image) ([]byte, error) {
	var k strings.Builder
	fmt.Fprintf(&k, "resources:\n- ../manifests/%s\nimages:\n", overlay)
	for _, im := range images {
		r := refs[im.name]
		fmt.Fprintf(&k, "- name: ghcr.io/zzcloud/%s\n  newName: %s\n  newTag: %s\n", im.name, r.Repository, r.Tag)
		if r.Digest != "" {
			fmt.Fprintf(&k, "  digest: %s\n", r.Digest)
		}
	}
	y, err := KustomizeManifests(manifests, k.String())
	if err != nil {
		return nil, err
	}
	return append([]byte("# zz: kubectl apply --server-side -f install.yaml (manifests/overlays/default; README: Installing)\n"), y...), nil
}

// PackageChart writes the chart as zz-VERSION.tgz into out, with its version,
// appVersion and image values set to the release's.
func PackageChart(dir, version string, refs map[string]Image, mtime time.Time, out string) (string, error) {
	ch, err := LoadChart(dir)
	if err != nil {
		return "", err
	}
	ch.Metadata.Version = strings.TrimPrefix(version, "v")
	ch.Metadata.AppVersion = version
	for _, f := range ch.Raw {
		if f.Name != chartutil.ValuesfileName {
			continue
		}
		data := f.Data
		for _, im := range images {
			if data, err = SetImageValues(data, im.valuesKey, refs[im.name]); err != nil {
				return "", err
			}
		}
		f.Data = data
		if ch.Values, err = common.ReadValues(data); err != nil {
			return "", err
		}
	}
	ch.StampModTimes(mtime) // the same commit packs the same bytes
	if err := ch.Validate(); err != nil {
		return "", err
	}
	return chartutil.Save(ch, out)
}

// SetImageValues rewrites the repository, tag and digest lines of
// images.<key> in values.yaml, keeping its comments.
func SetImageValues(values []byte, key string, im Image) ([]byte, error) {
	re := regexp.MustCompile(`(?m)^(  ` + regexp.QuoteMeta(key) + `:\n    repository: ).*\n(    tag: ).*\n(    digest: ).*$`)
	if !re.Match(values) {
		return nil, fmt.Errorf("values.yaml has no images.%s with repository, tag and digest lines", key)
	}
	return re.ReplaceAll(values, []byte(fmt.Sprintf("${1}%s\n${2}%s\n${3}%q", im.Repository, im.Tag, im.Digest))), nil
}
