package appspec

import (
	"maps"
	"strings"
	"testing"
)

// oddSidecarsSpec is a spec whose sidecars list holds %s: an entry that is
// not a map (the typo "sidecars:\n  -\n" is [null]).
const oddSidecarsSpec = "apiVersion: zz.io/v1\nkind: App\nname: shop\nspec:\n  type: web\n  image: registry.local/shop:1.4.2\n  port: 8080\n  sidecars: %s\n"

// TestSetByNameOnOddEntries: a --set naming an entry (spec.sidecars.auth)
// of a list an earlier file wrote with an odd entry is an error naming the
// --set or the file, never a panic (review 17b 2.1: [null] panicked).
func TestSetByNameOnOddEntries(t *testing.T) {
	for _, tt := range []struct {
		name, list string
		want       []string
	}{
		{name: "null entry", list: "[null]", want: []string{"--set spec.sidecars.auth.image=x: spec.sidecars.auth.image: spec.sidecars has no entry named auth"}},
		{name: "plain entry", list: "[plain]", want: []string{"--set spec.sidecars.auth.image=x: spec.sidecars.auth.image: spec.sidecars has no entry named auth"}},
		{name: "list entry", list: "[[a]]", want: []string{"--set spec.sidecars.auth.image=x: spec.sidecars.auth.image: spec.sidecars has no entry named auth"}},
		{name: "unnamed then named", list: "[null, {name: auth, image: 'reg/auth:1'}]", want: []string{"shop.yaml: spec.sidecars[0]"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := strings.Replace(oddSidecarsSpec, "%s", tt.list, 1)
			l, err := DecodeLayers([]Source{{"shop.yaml", []byte(spec)}}, []string{"spec.sidecars.auth.image=x"})
			if err != nil {
				t.Fatal(err)
			}
			got := l.Validate().Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors\n%s\nwant %q", got, w)
				}
			}
		})
	}
}

// FuzzSetPath: no --set path or value, over a spec whose lists hold any
// YAML, panics; every error names the file or the --set.
func FuzzSetPath(f *testing.F) {
	for _, set := range []string{
		"spec.sidecars[=x", "spec.sidecars[0=x", "spec.sidecars]]=x", "spec.sidecars[-1].image=x",
		"spec.sidecars[99999999999].image=x", "spec.sidecars[99999999999999999999999].image=x",
		"spec.sidecars[0][1]=x", "spec.sidecars[0]x.image=x", "spec.sidecars[0].image[0]=x",
		"[0]=x", "spec[0]=x", "spec.sidecars.auth.ports[0].name=web", "spec.sidecars.nosuch.image=x",
		"spec.sidecars.image=x", "spec.sidecars[1].name=b", "spec.args[0]=a", "spec.args[5]=a",
		"spec.sidecars.auth.image=x", "spec.sidecars[0]={name: log, image: l}", "spec.sidecars.auth.ports.auth.port=1",
		// Escapes (parsePath): a key that holds '[', '.', '=' or '\'.
		`spec.env.A\[0\]=x`, `spec.sidecars[0].env.A\[1\]=x`, `spec.sidecars.auth.env.K\.L=x`, `spec.env.A\=B=x`,
		`spec.env.A\\=x`, `spec.env.A\x=y`, `spec.env.A\=`, `spec.env.A\`, `\[0]=x`, `spec.args\[0]=x`,
		`spec.sidecars\[0\].image=x`, `spec.sidecars[0\]=x`, `spec.sidecars[0]\.image=x`, `spec.sidecars[0].\[=x`,
	} {
		for _, list := range []string{"[{name: auth, image: 'reg/auth:1', ports: [{name: auth, port: 4180}]}]", "[null]", "[plain]", "[[a]]", "[{ports: [null]}]", "{}", "x"} {
			f.Add(list, set)
		}
	}
	f.Fuzz(func(t *testing.T, list, set string) {
		spec := strings.Replace(oddSidecarsSpec, "%s", list, 1)
		l, err := DecodeLayers([]Source{{"shop.yaml", []byte(spec)}}, []string{set})
		if err != nil {
			return
		}
		_ = l.Warnings()
		for _, e := range l.Validate() {
			if msg := e.Error(); !strings.HasPrefix(msg, "shop.yaml: ") && !strings.HasPrefix(msg, "--set ") {
				t.Fatalf("error %q names neither the file nor the --set", msg)
			}
		}
	})
}

// TestSetPathEscapes: a backslash makes the next '.', '[', ']', '=' or '\'
// part of a --set key, as Helm's --set reads it, so a key that holds a
// bracket is a key, not a list index; before any other character it is
// itself. An unescaped bracket still indexes.
func TestSetPathEscapes(t *testing.T) {
	for _, tt := range []struct {
		set  string
		env  map[string]string // of the app, else of its first sidecar (sidecar)
		anno map[string]string
		// sidecar: env is the first sidecar's; want: an error of the --set.
		sidecar bool
		want    string
		// invalid: what validation then says of the key (a bracket is in
		// no name Kubernetes takes), naming the --set.
		invalid string
	}{
		{set: `spec.annotations.prometheus\.io/port=7070`, anno: map[string]string{"prometheus.io/port": "7070"}},
		{set: `spec.annotations.example\.com/a\[0\]=x`, anno: map[string]string{"example.com/a[0]": "x"}},
		{set: `spec.env.A\[0\]=x`, env: map[string]string{"A[0]": "x"}, invalid: "spec.env.A[0]: is not a valid environment variable name"},
		{set: `spec.env.A\[0=x`, env: map[string]string{"A[0": "x"}},
		{set: `spec.env.A\=B=x=y`, env: map[string]string{"A=B": "x=y"}},
		{set: `spec.env.A\\=x`, env: map[string]string{`A\`: "x"}},
		{set: `spec.env.A\x=y`, env: map[string]string{`A\x`: "y"}},
		{set: `spec.sidecars[0].env.A\[1\]=x`, env: map[string]string{"A[1]": "x"}, sidecar: true},
		{set: `spec.sidecars.auth.env.K\.L=x`, env: map[string]string{"K.L": "x"}, sidecar: true},
		{set: `spec.env.A[0]=x`, want: "spec.env.A is not a list: drop [0]"},
		{set: `spec.annotations.example\.com/a[0]=x`, want: "spec.annotations.example.com/a is not a list: drop [0]"},
	} {
		t.Run(tt.set, func(t *testing.T) {
			spec := strings.Replace(oddSidecarsSpec, "%s", "[{name: auth, image: 'reg/auth:1'}]", 1)
			l, err := DecodeLayers([]Source{{"shop.yaml", []byte(spec)}}, []string{tt.set})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" {
				if got := l.Validate().Error(); !strings.Contains(got, "--set "+tt.set+": ") || !strings.Contains(got, tt.want) {
					t.Fatalf("errors\n%s\nwant %q of the --set", got, tt.want)
				}
				return
			}
			if len(l.errs) > 0 {
				t.Fatalf("decoding: %v", l.errs)
			}
			s := &l.App.Spec
			env := s.Env
			if tt.sidecar {
				env = s.Sidecars[0].Env
			}
			if tt.env != nil && !maps.Equal(env, tt.env) {
				t.Errorf("env %q, want %q", env, tt.env)
			}
			if tt.anno != nil && !maps.Equal(s.Annotations, tt.anno) {
				t.Errorf("annotations %q, want %q", s.Annotations, tt.anno)
			}
			if got := l.Validate().Error(); tt.invalid != "" && !strings.Contains(got, "--set "+tt.set+": "+tt.invalid) {
				t.Errorf("errors\n%s\nwant %q of the --set", got, tt.invalid)
			}
		})
	}
}
