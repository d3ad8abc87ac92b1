package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/render"
)

// given is a spec as a user writes it: no defaults filled (and, as a file
// may, no apiVersion and kind).
func given(t *testing.T, image string) *appspec.App {
	t.Helper()
	app, err := appspec.Decode("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: "+image+"\n  env: {LOG: info}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// headed is g with the apiVersion and kind a recorded spec carries.
func headed(g *appspec.App) *appspec.App {
	h := g.Clone()
	h.APIVersion, h.Kind = appspec.APIVersion, appspec.Kind
	return h
}

// loaded is g with its defaults filled, as deploy renders it.
func loaded(g *appspec.App) *appspec.App {
	app := g.Clone()
	app.Default()
	return app
}

// revisionWithSpec is revision n of shop and the spec it recorded.
func revisionWithSpec(t *testing.T, c kubernetes.Interface, n int64) (*Revision, *appspec.App) {
	t.Helper()
	rev, err := GetRevision(t.Context(), c, ns, "shop", n)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := rev.Spec()
	if err != nil {
		t.Fatalf("spec of revision %d: %v", n, err)
	}
	return rev, spec
}

func revisionSpec(t *testing.T, c kubernetes.Interface, n int64) *appspec.App {
	t.Helper()
	_, spec := revisionWithSpec(t, c, n)
	return spec
}

// rendersAsRecorded checks the property history --spec promises: the spec
// recorded with revision n, deployed again, renders the objects n applied.
func rendersAsRecorded(t *testing.T, c kubernetes.Interface, n int64) {
	t.Helper()
	rev, spec := revisionWithSpec(t, c, n)
	recorded := rev.objects
	if rev.Canary {
		recorded = rev.promote // the spec deployed as the canary, whole
	}
	want, err := json.Marshal(recorded)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(render.Render(loaded(spec), render.Options{Namespace: ns, Revision: n}))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the spec of revision %d renders other objects than it recorded:\n%s\n%s", n, got, want)
	}
}

// TestRecordedSpecs: every command that records a revision records the app
// spec it runs, as the user gave it, and that spec renders what it applied.
func TestRecordedSpecs(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	g1 := given(t, "reg/shop:1")
	if _, err := Run(ctx, c, &Config{Options: opts(), App: loaded(g1), Given: g1}); err != nil {
		t.Fatal(err)
	}
	if s := revisionSpec(t, c, 1); !reflect.DeepEqual(s, headed(g1)) || s.Spec.Replicas != nil || s.Spec.Version != "" {
		t.Fatalf("revision 1 recorded %+v, want the spec as given (no defaults) %+v", s, g1)
	}
	rendersAsRecorded(t, c, 1)

	if _, err := Scale(ctx, c, &ChangeConfig{Options: opts(), App: "shop"}, 5); err != nil {
		t.Fatal(err)
	}
	if s := revisionSpec(t, c, 2); s.Spec.Replicas == nil || *s.Spec.Replicas != 5 || s.Spec.Image != "reg/shop:1" {
		t.Fatalf("the scale recorded %+v, want replicas 5", s.Spec)
	}
	if s := revisionSpec(t, c, 1); s.Spec.Replicas != nil {
		t.Fatalf("the scale changed revision 1's spec: %+v", s.Spec)
	}
	rendersAsRecorded(t, c, 2)
	if _, err := Restart(ctx, c, &ChangeConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(revisionSpec(t, c, 3), revisionSpec(t, c, 2)) {
		t.Fatal("a restart changed the spec")
	}
	if _, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 1}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(revisionSpec(t, c, 4), headed(g1)) {
		t.Fatalf("rollback to 1 recorded %+v", revisionSpec(t, c, 4))
	}
	rendersAsRecorded(t, c, 4)

	// A canary's revision shows the canary's spec; promote keeps it, abort
	// and a rollback to a canary revision keep the stable one.
	g2, g3 := given(t, "reg/shop:2"), given(t, "reg/shop:3")
	if _, err := RunCanary(ctx, c, &Config{Options: opts(), App: loaded(g2), Given: g2}, CanaryShare{Count: 1}); err != nil {
		t.Fatal(err)
	}
	if s := revisionSpec(t, c, 5); s.Spec.Image != "reg/shop:2" {
		t.Fatalf("canary revision shows %s", s.Spec.Image)
	}
	rendersAsRecorded(t, c, 5)
	if _, err := Promote(ctx, c, &CanaryActionConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(revisionSpec(t, c, 6), headed(g2)) {
		t.Fatalf("promote recorded %+v", revisionSpec(t, c, 6))
	}
	rendersAsRecorded(t, c, 6)
	if _, err := RunCanary(ctx, c, &Config{Options: opts(), App: loaded(g3), Given: g3}, CanaryShare{Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := Abort(ctx, c, &CanaryActionConfig{Options: opts(), App: "shop"}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(revisionSpec(t, c, 8), headed(g2)) {
		t.Fatalf("abort recorded %+v", revisionSpec(t, c, 8))
	}
	// Its stable spec runs: a rollback to it changes nothing, as kubectl
	// rollout undo skips one to the running template.
	if res, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 7}); err != nil || !res.Unchanged || res.Revision != 8 {
		t.Fatalf("rollback to the canary revision 7 while its stable spec runs: %+v, %v; want unchanged at revision 8", res, err)
	}
	if _, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 7}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(revisionSpec(t, c, 10), headed(g2)) {
		t.Fatalf("rollback to the canary revision 7 recorded %+v, want the stable spec", revisionSpec(t, c, 10))
	}
	rendersAsRecorded(t, c, 10)

	var out bytes.Buffer
	changed, err := DiffSpecs(ctx, c, ns, "shop", 1, 2, "", &out)
	if err != nil || !changed {
		t.Fatalf("diff 1..2: %v, changed %t", err, changed)
	}
	for _, want := range []string{"--- revision 1 spec", "+++ revision 2 spec", "+  replicas: 5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("spec diff lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if changed, err := DiffSpecs(ctx, c, ns, "shop", 6, 0, "", &out); err != nil || changed || out.Len() != 0 {
		t.Fatalf("diff 6..latest (both g2): %v, changed %t:\n%s", err, changed, out.String())
	}
}

// TestRecordsWithoutSpec: a record without a spec (written by an older
// kubectl zz) or with an unreadable one says so, and stays usable.
func TestRecordsWithoutSpec(t *testing.T) {
	c := fake.NewClientset()
	startController(t, c)
	ctx := t.Context()
	deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
	deployOK(t, c, spec(t, "reg/shop:2", ""), 0)
	edit := func(n int64, data []byte) {
		t.Helper()
		rec, err := c.CoreV1().Secrets(ns).Get(ctx, RecordName("shop", n), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if data == nil {
			delete(rec.Data, specKey)
		} else {
			rec.Data[specKey] = data
		}
		if _, err := c.CoreV1().Secrets(ns).Update(ctx, rec, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	edit(1, nil)
	edit(2, []byte("{"))
	rev, err := GetRevision(ctx, c, ns, "shop", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rev.Spec(); !errors.Is(err, ErrNoSpec) || !strings.Contains(err.Error(), "kubectl zz history shop --revision 1 prints its objects") {
		t.Fatalf("spec of a record without one: %v", err)
	}
	rev, err = GetRevision(ctx, c, ns, "shop", 2)
	if err != nil || rev.Unreadable != "" {
		t.Fatalf("a record with a bad spec: %v, %+v", err, rev)
	}
	if _, err := rev.Spec(); err == nil || !strings.Contains(err.Error(), "unreadable") {
		t.Fatalf("spec of a record with a bad one: %v", err)
	}
	// Its objects still restore, and a scale of a spec-less revision
	// records none rather than a wrong one.
	if _, err := Rollback(ctx, c, &RollbackConfig{Options: opts(), App: "shop", ToRevision: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := Scale(ctx, c, &ChangeConfig{Options: opts(), App: "shop"}, 3); err != nil {
		t.Fatal(err)
	}
	rev, _ = GetRevision(ctx, c, ns, "shop", 0)
	if _, err := rev.Spec(); !errors.Is(err, ErrNoSpec) {
		t.Fatalf("scale of a revision without a spec recorded one: %v", err)
	}
	if _, err := DiffSpecs(ctx, c, ns, "shop", 1, 0, "", &bytes.Buffer{}); !errors.Is(err, ErrNoSpec) {
		t.Fatalf("diff of specs never recorded: %v", err)
	}
}

// TestSpecYAMLDeploysAsIs: the YAML history --spec prints loads as a spec
// file, unchanged.
func TestSpecYAMLDeploysAsIs(t *testing.T) {
	g := headed(given(t, "reg/shop:1"))
	b, err := yaml.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	back, err := appspec.Decode("printed.yaml", b)
	if err != nil {
		t.Fatalf("the printed spec does not decode:\n%s\n%v", b, err)
	}
	if !reflect.DeepEqual(back, g) {
		t.Fatalf("round trip changed the spec:\n%+v\n%+v", back, g)
	}
}
