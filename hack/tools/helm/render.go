package main

import (
	"bytes"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one rendered Kubernetes object.
type Object map[string]any

// Key names the object: kind, namespace and name.
func (o Object) Key() string {
	meta, _ := o["metadata"].(map[string]any)
	return fmt.Sprintf("%v %v/%v", o["kind"], meta["namespace"], meta["name"])
}

// Kustomize renders a kustomization directory as kubectl kustomize does.
func Kustomize(dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return res.AsYaml()
}

// KustomizeManifests renders a kustomization (its body after kind; paths
// relative to a folder beside manifests, e.g. ../manifests/overlays/default)
// over an in-memory copy of the manifests folder: kustomize refuses absolute
// paths, and the source tree stays as it is.
func KustomizeManifests(manifests, body string) ([]byte, error) {
	fs := filesys.MakeFsInMemory()
	err := filepath.WalkDir(manifests, func(path string, d iofs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(manifests, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return fs.WriteFile(filepath.Join("/zz/manifests", rel), b)
	})
	if err != nil {
		return nil, err
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + body
	if err := fs.WriteFile("/zz/render/kustomization.yaml", []byte(k)); err != nil {
		return nil, err
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/zz/render")
	if err != nil {
		return nil, fmt.Errorf("kustomize:\n%s\n%w", k, err)
	}
	return res.AsYaml()
}

// LoadChart loads a chart directory or archive.
func LoadChart(path string) (*chart.Chart, error) {
	return loader.Load(path)
}

// ServedKinds are the kinds the chart renders only where the cluster serves
// them (.Capabilities.APIVersions), and which the manifests install: helm
// install and upgrade read them from the cluster; helm template offline
// knows group versions alone, so it takes --api-versions for each.
var ServedKinds = []string{"admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"}

// RenderChart renders the chart with vals over its defaults, hooks included,
// as helm template --api-versions ServedKinds does (for a cluster that serves
// what the manifests install), in the order of the template files.
func RenderChart(ch *chart.Chart, vals map[string]any) ([]byte, error) {
	caps := *common.DefaultCapabilities
	caps.APIVersions = append(slices.Clone(caps.APIVersions), ServedKinds...)
	top, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "zz", Namespace: "default", IsInstall: true, Revision: 1}, &caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, top)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		if strings.HasSuffix(n, ".yaml") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out bytes.Buffer
	for _, n := range names {
		if strings.TrimSpace(files[n]) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", n, files[n])
	}
	return out.Bytes(), nil
}

// Decode splits a multi-document YAML stream into objects (empty documents
// dropped).
func Decode(stream []byte) ([]Object, error) {
	var out []Object
	for _, doc := range strings.Split("\n"+string(stream)+"\n", "\n---\n") {
		var o Object
		// The line break before the separator ends the document's last
		// line (a block scalar keeps it).
		if err := yaml.Unmarshal([]byte(doc+"\n"), &o); err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, doc)
		}
		if len(o) > 0 {
			out = append(out, o)
		}
	}
	return out, nil
}
