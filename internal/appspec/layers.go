package appspec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Source is one spec file: its name as the user gave it and its bytes.
type Source struct {
	Name string
	Data []byte
}

// Layered is an app decoded from several files and --set values, merged in
// order, that remembers which source set each field, so an error names the
// file (or --set) to fix.
type Layered struct {
	App    *App
	origin map[string]string // JSON path of a leaf -> the source that set it last
	first  string
}

// DecodeLayers decodes files in order, each strictly (an error names the file
// and field), merges them (maps key by key, a later file wins; lists and
// values are replaced whole; null removes), then applies sets, each
// "path=value" as in --set spec.replicas=5 ('\.' is a dot inside a key:
// spec.annotations.prometheus\.io/port=7070). It neither defaults nor
// validates.
func DecodeLayers(files []Source, sets []string) (*Layered, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no spec file", ErrInvalid)
	}
	l := &Layered{origin: map[string]string{}, first: files[0].Name}
	merged := map[string]any{}
	var errs Errors
	for _, f := range files {
		if _, err := Decode(f.Name, f.Data); err != nil {
			errs = append(errs, asErrors(err)...)
			continue
		}
		js, _ := yaml.YAMLToJSONStrict(f.Data) // Decode checked it
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			errs = append(errs, &FieldError{File: f.Name, Msg: "not a map of fields", Fix: "start the file with name: and spec:"})
			continue
		}
		l.merge(merged, m, "", f.Name)
	}
	for _, set := range sets {
		m, err := setValue(set)
		if err == nil {
			js, _ := json.Marshal(m)
			_, err = Decode(setName(set), js)
		}
		if err != nil {
			errs = append(errs, asErrors(err)...)
			continue
		}
		l.merge(merged, m, "", setName(set))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	js, err := json.Marshal(merged)
	if err != nil {
		return nil, err
	}
	var app App
	if _, err := sigsjson.UnmarshalStrict(js, &app); err != nil {
		return nil, Errors{{File: l.first, Msg: trimJSONErr(err)}}
	}
	l.App = &app
	return l, nil
}

func setName(set string) string { return "--set " + set }

func asErrors(err error) Errors {
	if errs, ok := err.(Errors); ok {
		return errs
	}
	return Errors{{Msg: err.Error()}}
}

// merge copies src into dst, recording src's leaves as set by source.
func (l *Layered) merge(dst, src map[string]any, prefix, source string) {
	for k, v := range src {
		path := join(prefix, k)
		sub, isMap := v.(map[string]any)
		if cur, ok := dst[k].(map[string]any); ok && isMap {
			l.merge(cur, sub, path, source)
			continue
		}
		if isMap {
			cp := map[string]any{}
			l.merge(cp, sub, path, source)
			dst[k] = cp
			continue
		}
		dst[k] = v
		l.origin[path] = source
	}
	if len(src) == 0 {
		l.origin[prefix] = source
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// Source names the source that set field (a JSON path, "spec.ports[0].name"),
// or the first file when none did (a default).
func (l *Layered) Source(field string) string {
	for f := field; f != ""; {
		if s, ok := l.origin[f]; ok {
			return s
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return l.first
}

// Validate defaults the merged app and validates it; each error names the
// source that set the field.
func (l *Layered) Validate() Errors {
	l.App.Default()
	errs := l.App.Validate(l.first)
	for _, e := range errs {
		e.File = l.Source(e.Field)
	}
	return errs
}

// setValue turns "a.b.c=v" into {"a": {"b": {"c": v}}}, v typed by the
// field it sets: as written for a string, else parsed as YAML (5, true,
// [a, b], {k: v}).
func setValue(set string) (map[string]any, error) {
	path, raw, ok := strings.Cut(set, "=")
	if !ok || path == "" {
		return nil, Errors{{File: setName(set), Msg: "is not path=value", Fix: "write e.g. --set spec.replicas=5"}}
	}
	keys := splitPath(path)
	var v any = raw
	if !isString(keys) {
		if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
			return nil, Errors{{File: setName(set), Field: path, Msg: fmt.Sprintf("%q is not a value", raw), Fix: "quote it, or write YAML such as [a, b]"}}
		}
	}
	for i := len(keys) - 1; i >= 0; i-- {
		v = map[string]any{keys[i]: v}
	}
	return v.(map[string]any), nil
}

// splitPath splits at dots not preceded by a backslash.
func splitPath(path string) []string {
	var keys []string
	var cur strings.Builder
	for i := 0; i < len(path); i++ {
		switch {
		case path[i] == '\\' && i+1 < len(path) && path[i+1] == '.':
			cur.WriteByte('.')
			i++
		case path[i] == '.':
			keys = append(keys, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(path[i])
		}
	}
	return append(keys, cur.String())
}

// isString reports whether keys lead to a string field (or a value of a map
// of strings) of App.
func isString(keys []string) bool {
	t := reflect.TypeFor[App]()
	for _, k := range keys {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldByTag(t, k)
			if !ok {
				return false
			}
			t = f.Type
		case reflect.Map:
			t = t.Elem()
		default:
			return false
		}
	}
	return t.Kind() == reflect.String
}
