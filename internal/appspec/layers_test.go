package appspec

import (
	"strings"
	"testing"
)

const baseLayer = `apiVersion: zz.io/v1
kind: App
name: shop
spec:
  type: web
  image: registry.local/shop:1.4.2
  replicas: 2
  env: {LOG_LEVEL: info, REGION: north}
  hpa: {min: 2, max: 4}
`

func TestDecodeLayers(t *testing.T) {
	prod := "spec:\n  replicas: 6\n  env: {LOG_LEVEL: warn}\n  hpa: null\n  args: [--prod]\n"
	l, err := DecodeLayers([]Source{{"zz.yaml", []byte(baseLayer)}, {"prod.yaml", []byte(prod)}},
		[]string{"spec.replicas=8", "spec.version=1.10", `spec.annotations.prometheus\.io/port=7070`, "spec.args=[a, b]"})
	if err != nil {
		t.Fatal(err)
	}
	if errs := l.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	s := l.App.Spec
	if *s.Replicas != 8 || s.Env["LOG_LEVEL"] != "warn" || s.Env["REGION"] != "north" || s.HPA != nil || s.Version != "1.10" ||
		s.Annotations["prometheus.io/port"] != "7070" || strings.Join(s.Args, " ") != "a b" {
		t.Fatalf("merged spec = %+v", s)
	}
	for field, want := range map[string]string{"spec.replicas": "--set spec.replicas=8", "spec.env.LOG_LEVEL": "prod.yaml",
		"spec.env.REGION": "zz.yaml", "spec.args[1]": "--set spec.args=[a, b]", "spec.cpu": "zz.yaml"} {
		if got := l.Source(field); got != want {
			t.Errorf("Source(%s) = %s, want %s", field, got, want)
		}
	}
}

// TestDecodeLayersErrors: every error names the file or --set that caused it.
func TestDecodeLayersErrors(t *testing.T) {
	tests := []struct {
		name  string
		layer string
		sets  []string
		want  string
	}{
		{name: "unknown field in the second file", layer: "spec:\n  replica: 3\n", want: `prod.yaml: spec.replica: unknown field; did you mean "replicas"?`},
		{name: "bad value in the second file", layer: "spec:\n  memory: 12GB\n", want: `prod.yaml: spec.memory: "12GB" is not a quantity`},
		{name: "bad YAML", layer: "spec: [", want: "prod.yaml: not valid YAML"},
		{name: "unknown --set path", sets: []string{"spec.replcas=5"}, want: `--set spec.replcas=5: spec.replcas: unknown field; did you mean "replicas"?`},
		{name: "wrong type in --set", sets: []string{"spec.replicas=five"}, want: "--set spec.replicas=five: spec.replicas: expected int32, got string"},
		{name: "bad value in --set", sets: []string{"spec.port=70000"}, want: "--set spec.port=70000: spec.port: 70000 is out of range"},
		{name: "no value", sets: []string{"spec.replicas"}, want: "--set spec.replicas: is not path=value"},
		{name: "error left in the first file", layer: "spec:\n  cpu: \"1\"\n", sets: []string{"spec.hpa.max=1"}, want: "--set spec.hpa.max=1: spec.hpa.max: 1 is below min 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layer := tt.layer
			if layer == "" {
				layer = "spec: {}\n"
			}
			l, err := DecodeLayers([]Source{{"zz.yaml", []byte(baseLayer)}, {"prod.yaml", []byte(layer)}}, tt.sets)
			if err == nil {
				err = l.Validate()
				if len(err.(Errors)) == 0 {
					t.Fatalf("no error")
				}
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n%v\nwant it to contain\n%s", err, tt.want)
			}
		})
	}
}
