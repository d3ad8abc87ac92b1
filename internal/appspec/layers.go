package appspec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

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
	// errs are the problems of the sources themselves (unknown fields, wrong
	// types), reported by Validate with the values'.
	errs Errors
	// bad is the paths of the values left out for their type, each with its
	// source: the values they leave (zero, the default) are not checked.
	bad map[string]string
	// fatal: a source did not decode at all, so the merged app lacks what it
	// meant to say and its values are not checked.
	fatal bool
	// warnings are the entries of lists a later layer replaced whole.
	warnings []string
	// indexing: the layer being merged is an indexed --set, which changes
	// one entry of a list in place rather than replacing it.
	indexing bool
}

// DecodeLayers decodes files in order, merges them (maps key by key, a later
// file wins; lists and values are replaced whole; null removes), then applies
// sets, each "path=value" as in --set spec.replicas=5 (a backslash makes
// the next '.', '[', ']', '=' or '\' part of a key, as Helm's --set reads
// it: spec.annotations.prometheus\.io/port=7070; parsePath). It neither defaults nor
// validates, and returns an error only for no file: the problems of the
// sources (an unknown field, a value of the wrong type, a file that is not
// YAML) leave their fields out of App, and Validate reports them together
// with the values that are wrong, every problem of every source at once.
func DecodeLayers(files []Source, sets []string) (*Layered, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no spec file", ErrInvalid)
	}
	l := &Layered{origin: map[string]string{}, first: files[0].Name, bad: map[string]string{}}
	merged := map[string]any{}
	for _, f := range files {
		l.add(merged, decodeFile(f.Name, f.Data))
	}
	for _, set := range sets {
		if l.indexedSet(merged, set) {
			continue
		}
		m, path, err := setValue(set)
		if err != nil {
			l.errs = append(l.errs, err...)
			if path != "" {
				l.bad[path] = setName(set)
				l.origin[path] = setName(set)
			}
			continue
		}
		// Through JSON, as a file: numbers as json.Number.
		js, _ := json.Marshal(m)
		d := decodeFile(setName(set), js)
		l.add(merged, d)
	}
	app, errs := appFromMap(l.first, merged)
	l.errs = append(l.errs, errs...)
	l.App = app
	return l, nil
}

// add merges what d decoded into merged and keeps its problems.
func (l *Layered) add(merged map[string]any, d *decoded) {
	l.errs = append(l.errs, d.errs...)
	if d.fatal {
		l.fatal = true
		return
	}
	l.merge(merged, d.m, "", d.name)
	for _, p := range d.bad {
		l.bad[p] = d.name
		l.origin[p] = d.name
	}
}

func setName(set string) string { return "--set " + set }

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
		if old, ok := dst[k].([]any); ok {
			if next, ok := v.([]any); ok {
				l.replaced(path, old, next, source)
			}
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

// SetImage is --image: it replaces spec.image, and drops spec.version, which
// named the files' image, so that the version is the new image's tag. Errors
// of either name the flag.
func (l *Layered) SetImage(image string) {
	l.App.Spec.Image, l.App.Spec.Version = image, ""
	l.setBy("spec.image", "--image "+image)
	l.setBy("spec.version", "--image "+image)
}

// SetVersion is --version: it replaces spec.version.
func (l *Layered) SetVersion(version string) {
	l.App.Spec.Version = version
	l.setBy("spec.version", "--version "+version)
}

// SetReplicas is --replicas: it replaces spec.replicas.
func (l *Layered) SetReplicas(n int32) {
	l.App.Spec.Replicas = &n
	l.setBy("spec.replicas", fmt.Sprintf("--replicas %d", n))
}

// setBy records that a flag set field, after every file and --set.
func (l *Layered) setBy(field, source string) {
	l.origin[field] = source
	delete(l.bad, field)
}

// Validate defaults the merged app and validates it. It returns every
// problem of every source: the sources' own (unknown fields, wrong types)
// first, then the values that are wrong, each naming the source that set the
// field. The values are not checked when a source did not decode at all.
func (l *Layered) Validate() Errors {
	errs := slices.Clone(l.errs)
	if l.fatal {
		return errs
	}
	fromTag := l.App.Spec.Version == "" // the version is the image's tag
	l.App.Default()
	var bad []string
	for p, source := range l.bad {
		if l.Source(p) == source { // no later source set it
			bad = append(bad, p)
		}
	}
	for _, e := range without(l.App.Validate(l.first), bad) {
		e.File = l.Source(e.Field)
		if e.Field == "spec.version" && fromTag {
			e.File = l.Source("spec.image")
			if image, ok := strings.CutPrefix(e.File, "--image "); ok {
				// The tag of --image, not of the file's image.
				e.Field, e.Fix = "", "give --version 1.4.2, or tag the image"
				if e.Msg == "missing" {
					e.Msg = "no tag to take the version from"
				} else {
					e.Msg = fmt.Sprintf("its tag %q is not a valid version (letters, digits, '-', '_' and '.', at most 63)", ImageTag(image))
				}
			}
		}
		errs = append(errs, e)
	}
	return errs
}

// setValue turns "a.b.c=v" into {"a": {"b": {"c": v}}}, v typed by the
// field it sets: as written for a string, else parsed as YAML (5, true,
// [a, b], {k: v}).
// On error it returns the path when there is one.
func setValue(set string) (map[string]any, string, Errors) {
	path, raw, ok := cutSet(set)
	if !ok || path == "" {
		return nil, "", Errors{{File: setName(set), Msg: "is not path=value", Fix: "write e.g. --set spec.replicas=5"}}
	}
	steps, err := parsePath(path)
	if err == nil {
		_, err = typeAt(steps)
	}
	if err != nil {
		return nil, path, Errors{{File: setName(set), Field: path, Msg: err.Error()}}
	}
	keys := keysOf(steps)
	var v any = raw
	if !isString(keys) {
		if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
			return nil, path, Errors{{File: setName(set), Field: path, Msg: fmt.Sprintf("%q is not a value", raw), Fix: "quote it, or write YAML such as [a, b]"}}
		}
	}
	for i := len(keys) - 1; i >= 0; i-- {
		v = map[string]any{keys[i]: v}
	}
	return v.(map[string]any), "", nil
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
