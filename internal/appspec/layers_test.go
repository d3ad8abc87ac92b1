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

// TestLayersEveryProblem: the path kubectl zz deploy takes (DecodeLayers,
// the flags, Validate) reports the unknown fields, the values of the wrong
// type and the wrong values of every file and --set at once, each naming its
// source, where it stopped at the first unknown field or wrong type.
func TestLayersEveryProblem(t *testing.T) {
	tests := []struct {
		name  string
		files []Source
		sets  []string
		image string
		want  []string // the error's lines, in order
	}{
		{name: "unknown field and a bad value (README)",
			files: []Source{{"bad5.yaml", []byte("apiVersion: zz.io/v1\nkind: App\nname: shop\nspec:\n  type: web\n  image: r/x:1\n  memroy: 1Gi\n  memory: 12GB\n")}},
			want: []string{`bad5.yaml: spec.memroy: unknown field; did you mean "memory"?`,
				`bad5.yaml: spec.memory: "12GB" is not a quantity; use e.g. 512Mi or 2Gi`}},
		{name: "a wrong type hides nothing",
			files: []Source{{"bad.yaml", []byte("name: Shop_1\nspec:\n  type: webb\n  memroy: 1Gi\n  memory: 12GB\n  replicas: \"three\"\n  port: 70000\n  cpu: lots\n")}},
			want: []string{`bad.yaml: spec.replicas: expected int32, got string "three"`,
				`bad.yaml: spec.memroy: unknown field; did you mean "memory"?`,
				`bad.yaml: name: "Shop_1" is not a valid app name; use lower-case letters, digits and '-', starting with a letter (e.g. shop-api)`,
				`bad.yaml: spec.type: "webb" is not an app type; use one of java, web, rpc, worker`,
				`bad.yaml: spec.image: missing; set the image to run, e.g. registry.local/shop:1.4.2`,
				`bad.yaml: spec.cpu: "lots" is not a quantity; use e.g. 250m or 2`,
				`bad.yaml: spec.memory: "12GB" is not a quantity; use e.g. 512Mi or 2Gi`,
				`bad.yaml: spec.port: 70000 is out of range; use a port from 1 to 65535, e.g. 8080`}},
		{name: "every --set", files: []Source{{"zz.yaml", []byte(baseLayer)}}, sets: []string{"spec.port=70000", "spec.nope=1"},
			want: []string{"--set spec.nope=1: spec.nope: unknown field; known fields here: type, image, version, replicas, cpu, memory, port, healthPath, healthCheck, healthCommand, group, pool, env, configFiles, configDir, gpuMem, antiAffinity, zoneSpread, pdb, ingress, service, hpa, pvc, command, args, initCommand, labels, annotations, envFrom, secretEnv, imagePullSecrets, secretFiles, scratch, sidecars, ports, gpus, gpuNumaBind, gpuWhole, gpuModels, avoidGpuModels, priorityClassName, terminationGracePeriod, preStop, startupTimeout, healthTimeout, rollout, minReadySeconds, serviceAccount, securityContext",
				"--set spec.port=70000: spec.port: 70000 is out of range; use a port from 1 to 65535, e.g. 8080"}},
		{name: "every file and --set, each named",
			files: []Source{{"zz.yaml", []byte(baseLayer + "  memory: 12GB\n")}, {"prod.yaml", []byte("spec:\n  replicas: six\n  cpu: lots\n")}},
			sets:  []string{"spec.replcas=5", "spec.hpa.max=1"},
			want: []string{`prod.yaml: spec.replicas: expected int32, got string "six"`,
				`--set spec.replcas=5: spec.replcas: unknown field; did you mean "replicas"?`,
				`prod.yaml: spec.cpu: "lots" is not a quantity; use e.g. 250m or 2`,
				`zz.yaml: spec.memory: "12GB" is not a quantity; use e.g. 512Mi or 2Gi`,
				"--set spec.hpa.max=1: spec.hpa.max: 1 is below min 2; use a max of at least min"}},
		{name: "a value of the wrong type is not also missing",
			files: []Source{{"zz.yaml", []byte("name: shop\nspec: {type: 5, image: [a], replicas: 2.5, env: {A: 1}, hpa: 3, ports: [{name: m, port: x}]}\n")}},
			want: []string{"zz.yaml: spec.type: expected string, got number 5; quote it",
				"zz.yaml: spec.image: expected string, got list",
				"zz.yaml: spec.replicas: expected int32, got number 2.5",
				"zz.yaml: spec.env.A: expected string, got number 1; quote it",
				"zz.yaml: spec.hpa: expected a map of fields, got number 3",
				`zz.yaml: spec.ports[0].port: expected int32, got string "x"`}},
		{name: "a later source's wrong value is still checked",
			files: []Source{{"zz.yaml", []byte(baseLayer + "  port: http\n")}}, sets: []string{"spec.port=70000"},
			want: []string{`zz.yaml: spec.port: expected int32, got string "http"`,
				"--set spec.port=70000: spec.port: 70000 is out of range; use a port from 1 to 65535, e.g. 8080"}},
		{name: "a file that does not decode stops the values, not the other files",
			files: []Source{{"zz.yaml", []byte("name: [")}, {"prod.yaml", []byte("spec: {replica: 3}\n")}},
			want: []string{"zz.yaml: not valid YAML: yaml: line 1: did not find expected node content; check indentation and that no key appears twice",
				`prod.yaml: spec.replica: unknown field; did you mean "replicas"?`}},
		{name: "--image without a tag names the flag",
			files: []Source{{"web.yaml", []byte(baseLayer)}}, image: "registry.local/web@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd",
			want: []string{"--image registry.local/web@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd: no tag to take the version from; give --version 1.4.2, or tag the image"}},
		{name: "--image with a bad tag names the flag",
			files: []Source{{"web.yaml", []byte(baseLayer)}}, image: "registry.local/web:1.0.0+build.5",
			want: []string{`--image registry.local/web:1.0.0+build.5: its tag "1.0.0+build.5" is not a valid version (letters, digits, '-', '_' and '.', at most 63); give --version 1.4.2, or tag the image`}},
		{name: "the file's image without a tag names the file and --version",
			files: []Source{{"web.yaml", []byte(strings.Replace(baseLayer, "shop:1.4.2", "shop", 1))}},
			want:  []string{"web.yaml: spec.version: missing; set spec.version or give --version 1.4.2, or tag spec.image (shop:1.4.2)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := DecodeLayers(tt.files, tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			if tt.image != "" {
				l.SetImage(tt.image)
			}
			errs := l.Validate()
			if got, want := errs.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Fatalf("errors\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestLayersFlags: --version mends an --image without a tag; a bad --version
// names the flag.
func TestLayersFlags(t *testing.T) {
	l, err := DecodeLayers([]Source{{"web.yaml", []byte(baseLayer)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.SetImage("registry.local/web@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd")
	l.SetVersion("1.5.0")
	l.SetReplicas(3)
	if errs := l.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if s := l.App.Spec; s.Version != "1.5.0" || *s.Replicas != 3 || s.Image != "registry.local/web@sha256:0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd" {
		t.Fatalf("spec = %+v", s)
	}
	l, err = DecodeLayers([]Source{{"web.yaml", []byte(baseLayer)}}, []string{"spec.replicas=x"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetVersion("v 1")
	l.SetReplicas(-1)
	want := `--set spec.replicas=x: spec.replicas: expected int32, got string "x"` + "\n" +
		`--version v 1: spec.version: "v 1" is not a valid label value; set spec.version or give --version 1.4.2, or tag spec.image (shop:1.4.2)` + "\n" +
		"--replicas -1: spec.replicas: -1 is negative; use 0 or more"
	if got := l.Validate().Error(); got != want {
		t.Fatalf("errors\n%s\nwant\n%s", got, want)
	}
}

// TestDocuments: a file holds one app spec; a second document is refused,
// not dropped. Separators around the one document are fine.
func TestDocuments(t *testing.T) {
	tests := []struct {
		name, data, want string // want "" is no error
	}{
		{name: "one document", data: baseLayer},
		{name: "a leading ---", data: "---\n" + baseLayer},
		{name: "trailing empty documents", data: baseLayer + "---\n# nothing\n---\n"},
		{name: "a comment after ---", data: "--- # shop\n" + baseLayer},
		{name: "two documents", data: baseLayer + "---\n" + strings.Replace(baseLayer, "shop", "cart", -1),
			want: "multi.yaml holds 2 documents; kubectl zz deploy takes one app spec per file: split them and deploy each"},
		{name: "an invalid second document", data: "---\n" + baseLayer + "---\nname: y\nspec: {bogus: 1}\n---\n",
			want: "multi.yaml holds 2 documents; kubectl zz deploy takes one app spec per file: split them and deploy each"},
		{name: "three, one inline", data: baseLayer + "--- {name: b}\n---\nname: c\n",
			want: "multi.yaml holds 3 documents; kubectl zz deploy takes one app spec per file: split them and deploy each"},
		{name: "only separators", data: "---\n---\n", want: "multi.yaml: file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := DecodeLayers([]Source{{"multi.yaml", []byte(tt.data)}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := l.Validate()
			if tt.want == "" {
				if len(got) > 0 {
					t.Fatal(got)
				}
				return
			}
			if !strings.HasPrefix(got.Error(), tt.want) {
				t.Fatalf("errors\n%v\nwant\n%s", got, tt.want)
			}
			if _, err := Load("multi.yaml", []byte(tt.data)); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}

// TestKubernetesManifest: a manifest of another kind is said to be one, in
// one line, before its fields; a wrong kind or apiVersion in an app spec stays
// a field error.
func TestKubernetesManifest(t *testing.T) {
	const deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: x}}\n  strategy: {}\n  template: {}\nstatus: {}\n"
	tests := []struct {
		name, data, want string
	}{
		{name: "Deployment", data: deployment,
			want: `k8s.yaml is a Kubernetes Deployment (apps/v1), not a kubectl zz app spec (apiVersion zz.io/v1, kind App): apply it with kubectl apply, or write an app spec (README "Deploying apps")`},
		{name: "Service and a Deployment", data: "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n---\n" + deployment,
			want: `k8s.yaml is a Kubernetes Service (v1), not a kubectl zz app spec (apiVersion zz.io/v1, kind App): apply it with kubectl apply, or write an app spec (README "Deploying apps")`},
		{name: "metadata without apiVersion", data: "kind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n",
			want: `k8s.yaml is a Kubernetes ConfigMap, not a kubectl zz app spec (apiVersion zz.io/v1, kind App): apply it with kubectl apply, or write an app spec (README "Deploying apps")`},
		{name: "kubectl zz status -o yaml", data: "apiVersion: v1\nitems:\n- apiVersion: zz.io/v1\n  app: shop\n  health: Ready\n  kind: App\n  metadata: {name: shop, namespace: shop}\n  revision: 1\nkind: List\nmetadata: {resourceVersion: \"\"}\n",
			want: `k8s.yaml is app shop's state (kubectl zz status or deploy -o yaml), not an app spec: kubectl zz history shop --spec prints the spec its latest revision was deployed from (--revision N: another's)`},
		{name: "one item of it", data: "apiVersion: zz.io/v1\napp: shop\nhealth: Ready\nkind: App\nmetadata: {name: shop, namespace: shop}\nrevision: 1\n",
			want: `k8s.yaml is app shop's state (kubectl zz status or deploy -o yaml), not an app spec: kubectl zz history shop --spec prints the spec its latest revision was deployed from (--revision N: another's)`},
		{name: "kubectl zz history -o yaml", data: "apiVersion: v1\nitems:\n- apiVersion: zz.io/v1\n  app: shop\n  kind: Revision\n  metadata: {name: zz.shop.r1}\nkind: List\n",
			want: `k8s.yaml is app shop's revision records (kubectl zz history -o yaml), not an app spec: kubectl zz history shop --spec prints the spec its latest revision was deployed from (--revision N: another's)`},
		{name: "a List of Kubernetes objects", data: "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: x}\nkind: List\n",
			want: `k8s.yaml is a Kubernetes List (v1), not a kubectl zz app spec (apiVersion zz.io/v1, kind App): apply it with kubectl apply, or write an app spec (README "Deploying apps")`},
		{name: "wrong kind in an app spec", data: "kind: Deployment\nname: shop\nspec: {type: web, image: a:1}\n",
			want: `k8s.yaml: kind: "Deployment" is not supported; use App`},
		{name: "wrong apiVersion in an app spec", data: "apiVersion: zz.io/v2\nkind: App\nname: shop\nspec: {type: web, image: a:1}\n",
			want: `k8s.yaml: apiVersion: "zz.io/v2" is not supported; use zz.io/v1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := DecodeLayers([]Source{{"k8s.yaml", []byte(tt.data)}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Validate().Error(); got != tt.want {
				t.Fatalf("errors\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

const sidecarLayer = `name: shop
spec:
  type: web
  image: registry.local/shop:1.4.2
  ports: [{name: metrics, port: 7070}]
  scratch: [{mountPath: /tmp, size: 1Gi}, {mountPath: /var/log/app}]
  sidecars:
  - {name: auth, image: 'quay.io/oauth2-proxy/oauth2-proxy:v7.7.1', ports: [{name: auth, port: 4180, front: true}]}
  - {name: log-shipper, image: 'cr.fluentbit.io/fluent/fluent-bit:3.1', mounts: [/var/log/app]}
`

// TestLayersReplaceListWarns: a later file (or --set) that restates a list
// of the spec replaces it whole, and each entry it drops is said, naming
// both files (an audit: an overlay giving the log shipper more memory
// dropped the auth proxy in front of the app, unsaid).
func TestLayersReplaceListWarns(t *testing.T) {
	for _, tt := range []struct {
		name, layer string
		sets        []string
		want        string // "" for none
	}{
		{name: "overlay drops the front sidecar", layer: "spec:\n  sidecars: [{name: log-shipper, image: 'cr.fluentbit.io/fluent/fluent-bit:3.1', memory: 256Mi, mounts: [/var/log/app]}]\n",
			want: "shop-prod.yaml replaces spec.sidecars of shop.yaml whole: sidecar auth (front) is no longer in the spec; lists are replaced whole, as Helm's values: restate it in shop-prod.yaml to keep it"},
		{name: "overlay keeps every sidecar", layer: "spec:\n  sidecars:\n  - {name: auth, image: 'quay.io/oauth2-proxy/oauth2-proxy:v7.8.0', ports: [{name: auth, port: 4180, front: true}]}\n  - {name: log-shipper, image: 'cr.fluentbit.io/fluent/fluent-bit:3.1', mounts: [/var/log/app]}\n"},
		{name: "overlay drops both", layer: "spec:\n  sidecars: [{name: other, image: 'reg/other:1'}]\n",
			want: "sidecars auth (front), log-shipper are no longer in the spec"},
		{name: "scratch by mountPath", layer: "spec:\n  scratch: [{mountPath: /var/log/app, size: 2Gi}]\n",
			want: "shop-prod.yaml replaces spec.scratch of shop.yaml whole: /tmp is no longer in the spec"},
		{name: "ports by name", layer: "spec:\n  ports: [{name: admin, port: 9000}]\n", want: "replaces spec.ports of shop.yaml whole: metrics is no longer in the spec"},
		{name: "--set of the whole list", sets: []string{"spec.sidecars=[{name: auth, image: 'reg/auth:1', ports: [{name: auth, port: 4180, front: true}]}]"},
			want: "--set spec.sidecars=[{name: auth, image: 'reg/auth:1', ports: [{name: auth, port: 4180, front: true}]}] replaces spec.sidecars of shop.yaml whole: sidecar log-shipper is no longer in the spec"},
		{name: "indexed --set changes one entry in place", sets: []string{"spec.sidecars[0].image=reg/auth:2"}},
		{name: "indexed --set replaces a named entry", sets: []string{"spec.sidecars[0]={name: log, image: 'reg/log:1'}"},
			want: "--set spec.sidecars[0]={name: log, image: 'reg/log:1'} replaces spec.sidecars[0] of shop.yaml whole: sidecar auth (front) is no longer in the spec, log is there instead; to change one field of it, set that field (--set spec.sidecars.auth.<field>=...)"},
		{name: "indexed --set restates the entry of that name", sets: []string{"spec.sidecars[1]={name: log-shipper, image: 'reg/log:2'}"}},
		{name: "indexed --set appends an entry", sets: []string{"spec.sidecars[2]={name: other, image: 'reg/other:1'}"}},
		{name: "indexed --set replaces a scratch", sets: []string{"spec.scratch[0]={mountPath: /var/cache, size: 1Gi}"},
			want: "replaces spec.scratch[0] of shop.yaml whole: /tmp is no longer in the spec, /var/cache is there instead; restate it in the --set to keep it"},
		{name: "a list of values is one value", layer: "spec:\n  args: [--prod]\n"},
		{name: "null removes on purpose", layer: "spec:\n  sidecars: null\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			layers := []Source{{"shop.yaml", []byte(sidecarLayer)}}
			if tt.layer != "" {
				layers = append(layers, Source{"shop-prod.yaml", []byte(tt.layer)})
			}
			l, err := DecodeLayers(layers, tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			if errs := l.Validate(); len(errs) > 0 {
				t.Fatal(errs)
			}
			got := strings.Join(l.Warnings(), "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("warnings %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSetListIndex: --set indexes a list of the merged spec as Helm's --set
// does (spec.sidecars[0].image=...), appends at its length, and says how
// many entries there are past it; a key into a list says how to index it.
func TestSetListIndex(t *testing.T) {
	for _, tt := range []struct {
		name  string
		sets  []string
		check func(s *Spec) bool
		want  string // an error
		src   map[string]string
	}{
		{name: "a sidecar's image", sets: []string{"spec.sidecars[0].image=quay.io/oauth2-proxy/oauth2-proxy:v7.8.0"},
			check: func(s *Spec) bool {
				return s.Sidecars[0].Image == "quay.io/oauth2-proxy/oauth2-proxy:v7.8.0" && s.Sidecars[0].Ports[0].Front && s.Sidecars[1].Name == "log-shipper"
			},
			src: map[string]string{"spec.sidecars[0].image": "--set spec.sidecars[0].image=quay.io/oauth2-proxy/oauth2-proxy:v7.8.0", "spec.sidecars[1].image": "shop.yaml", "spec.sidecars[0].name": "shop.yaml"}},
		{name: "a port number, typed", sets: []string{"spec.ports[0].port=7071"}, check: func(s *Spec) bool { return s.Ports[0].Port == 7071 && s.Ports[0].Name == "metrics" }},
		{name: "a scratch size", sets: []string{"spec.scratch[0].size=2Gi"}, check: func(s *Spec) bool { return s.Scratch[0].Size == "2Gi" && s.Scratch[0].MountPath == "/tmp" }},
		{name: "nested lists", sets: []string{"spec.sidecars[0].ports[0].port=4181"}, check: func(s *Spec) bool { return s.Sidecars[0].Ports[0].Port == 4181 && s.Sidecars[0].Ports[0].Front }},
		{name: "a string list entry", sets: []string{"spec.sidecars[1].mounts[0]=/tmp"}, check: func(s *Spec) bool { return s.Sidecars[1].Mounts[0] == "/tmp" }},
		{name: "append at the length", sets: []string{"spec.ports[1].name=admin", "spec.ports[1].port=9000"},
			check: func(s *Spec) bool { return len(s.Ports) == 2 && s.Ports[1].Name == "admin" && s.Ports[1].Port == 9000 }},
		{name: "past the length", sets: []string{"spec.sidecars[5].image=reg/x:1"}, want: "--set spec.sidecars[5].image=reg/x:1: spec.sidecars[5].image: spec.sidecars has 2 entries: index 0 to 1 sets one, 2 appends one"},
		{name: "a list the spec lacks", sets: []string{"spec.secretFiles[1].secret=x"}, want: "spec.secretFiles has no entries: index 0 appends one, or set the whole list (--set 'spec.secretFiles=[...]')"},
		{name: "a key into a list", sets: []string{"spec.scratch.size=2Gi"}, want: "--set spec.scratch.size=2Gi: spec.scratch.size: spec.scratch is a list: index it as Helm does (--set spec.scratch[0].size=...), or set the whole list (--set 'spec.scratch=[...]')"},
		{name: "a sidecar by name", sets: []string{"spec.sidecars.log-shipper.memory=256Mi", "spec.sidecars.auth.ports.auth.port=4181"},
			check: func(s *Spec) bool {
				return s.Sidecars[1].Memory == "256Mi" && s.Sidecars[0].Memory == DefaultSidecarMemory && s.Sidecars[0].Ports[0].Port == 4181
			},
			src: map[string]string{"spec.sidecars[1].memory": "--set spec.sidecars.log-shipper.memory=256Mi", "spec.sidecars[0].image": "shop.yaml"}},
		{name: "a field of the entries", sets: []string{"spec.sidecars.image=reg/x:1"},
			want: "--set spec.sidecars.image=reg/x:1: spec.sidecars.image: spec.sidecars is a list: index it as Helm does (--set spec.sidecars[0].image=...), or name the entry (--set spec.sidecars.auth.image=...)"},
		{name: "no entry of that name", sets: []string{"spec.sidecars.oauth.image=reg/x:1"},
			want: "--set spec.sidecars.oauth.image=reg/x:1: spec.sidecars.oauth.image: spec.sidecars has no entry named oauth (auth, log-shipper); index one as Helm does (--set spec.sidecars[0]...), or add it (--set spec.sidecars[2].name=oauth)"},
		{name: "a key into a list of values", sets: []string{"spec.args.0=x"}, want: "--set spec.args.0=x: spec.args.0: spec.args is a list: index it as Helm does (--set spec.args[0].0=...), or set the whole list"},
		{name: "an index into a map", sets: []string{"spec.env[0]=x"}, want: "spec.env is not a list: drop [0]"},
		{name: "a bad value is the --set's", sets: []string{"spec.sidecars[0].ports[0].port=http"}, want: "--set spec.sidecars[0].ports[0].port=http: spec.sidecars[0].ports[0].port: expected int32, got string"},
		{name: "a bad index", sets: []string{"spec.sidecars[x].image=a"}, want: `"[x]" is not a list index`},
		// An entry the --set appended is the --set's: its errors name it,
		// not the file that set the list (TestDecodeLayersErrors' rule).
		{name: "an appended entry's error", sets: []string{"spec.sidecars[2].name=b"}, want: "--set spec.sidecars[2].name=b: spec.sidecars[2].image: missing"},
		{name: "an appended port's error", sets: []string{"spec.sidecars.log-shipper.ports[0].name=web"}, want: "--set spec.sidecars.log-shipper.ports[0].name=web: spec.sidecars[1].ports[0].port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := DecodeLayers([]Source{{"shop.yaml", []byte(sidecarLayer)}}, tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			errs := l.Validate()
			if tt.want != "" {
				if !strings.Contains(errs.Error(), tt.want) {
					t.Fatalf("errors\n%v\nwant\n%s", errs, tt.want)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if !tt.check(&l.App.Spec) {
				t.Errorf("spec %+v", l.App.Spec)
			}
			for field, want := range tt.src {
				if got := l.Source(field); got != want {
					t.Errorf("Source(%s) = %s, want %s", field, got, want)
				}
			}
		})
	}
}
