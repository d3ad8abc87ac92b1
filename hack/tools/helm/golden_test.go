package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/common"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// TestChartPodValuesGolden renders the chart's workloads (the Deployments,
// the DaemonSet, the certgen hook Job and CronJob) with every pod value of
// testdata/podvalues.yaml set, and compares them with
// testdata/podvalues.golden.yaml, so a reviewer reads what an admin's values
// install (go test -run TestChartPodValuesGolden . -update rewrites it).
func TestChartPodValuesGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/podvalues.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vals, err := common.ReadValues(b)
	if err != nil {
		t.Fatal(err)
	}
	objs := renderedObjects(t, filepath.Join(root, "manifests/helm/zz"), vals)
	var got strings.Builder
	for _, o := range objs {
		switch o["kind"] {
		case "Deployment", "DaemonSet", "Job", "CronJob":
			out, err := yamlOf(o)
			if err != nil {
				t.Fatal(err)
			}
			got.WriteString("---\n" + out)
		}
	}
	const golden = "testdata/podvalues.golden.yaml"
	if *update {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got.String()); diff != "" {
		t.Errorf("%s (-want +got; -update rewrites it):\n%s", golden, diff)
	}
}

// yamlOf writes an object as YAML, its keys sorted.
func yamlOf(o Object) (string, error) {
	b, err := yaml.Marshal(map[string]any(o))
	return string(b), err
}
