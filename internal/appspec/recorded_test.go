package appspec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func TestNotUnderstood(t *testing.T) {
	for _, tc := range []struct {
		name, js string
		want     []string
		err      bool
	}{
		{"as this version writes it", `{"apiVersion":"zz.io/v1","kind":"App","name":"shop","spec":{"type":"web","image":"r/shop:1","replicas":2}}`, nil, false},
		{"a field of a newer version", `{"name":"shop","spec":{"type":"web","image":"r/shop:1","futureAuth":{"mode":"mtls"}}}`, []string{"spec.futureAuth"}, false},
		{"nested and top level", `{"name":"shop","extra":1,"spec":{"type":"web","image":"r/shop:1","env":{"A":"1"},"sidecars":[{"name":"auth","image":"p:1","mtls":true}]}}`, []string{"extra", "spec.sidecars[0].mtls"}, false},
		{"a value of another type", `{"name":"shop","spec":{"type":"web","image":"r/shop:1","replicas":"two"}}`, []string{"spec.replicas"}, false},
		{"not an object", `[1]`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NotUnderstood([]byte(tc.js))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("NotUnderstood = %q, want %q", got, tc.want)
			}
		})
	}
}

// fill sets every exported field of v, however deep (to depth 8), to a
// value that is not zero.
func fill(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), depth+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	}
}

// TestOwnRecordsUnderstood: every App this version records (json.Marshal)
// reads back with nothing NotUnderstood, or scale and rollback would refuse
// the records this very version wrote: every field filled (by reflection,
// so a new field is covered without listing it), none, and the render
// test specs (review 17a; a guard, it passed before).
func TestOwnRecordsUnderstood(t *testing.T) {
	var filled App
	fill(reflect.ValueOf(&filled).Elem(), 0)
	apps := map[string]*App{"every field filled": &filled, "zero": {}}
	files, err := filepath.Glob("../render/testdata/*.zz.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no render test specs: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if app, err := Load(f, data); err == nil {
			apps[filepath.Base(f)] = app
		}
	}
	for name, app := range apps {
		t.Run(name, func(t *testing.T) {
			js, err := json.Marshal(app)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := NotUnderstood(js); err != nil || len(got) > 0 {
				t.Errorf("NotUnderstood = %q, %v; want none", got, err)
			}
		})
	}
}
