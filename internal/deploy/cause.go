package deploy

import (
	"cmp"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/prose"
)

// changedFields names the spec fields that differ between a and b, as
// dotted paths ("env.LOG_LEVEL, replicas"), at most three and how many more;
// "" when none (or either cannot be compared). unknown are fields of a's
// record this version could not read into a ("spec.futureAuth"): b, a
// file this version read, lacks them.
func changedFields(a, b *appspec.App, unknown []string) string {
	flat := func(app *appspec.App) map[string]string {
		out := map[string]string{}
		js, err := json.Marshal(app.Spec)
		if err != nil {
			return nil
		}
		var m map[string]any
		if json.Unmarshal(js, &m) != nil {
			return nil
		}
		// t is v's type in the spec, so that an entry of a map of objects
		// (secretEnv) is told from a field of a struct.
		var walk func(prefix string, v any, t reflect.Type)
		walk = func(prefix string, v any, t reflect.Type) {
			if mm, ok := v.(map[string]any); ok && len(mm) > 0 {
				for k, sub := range mm {
					p, st := strings.TrimPrefix(prefix+"."+k, "."), fieldType(t, k)
					if t != nil && t.Kind() == reflect.Map && st.Kind() == reflect.Struct {
						out[p+entryMark] = "1" // as a list's entry (sidecars.auth.secretEnv.TOKEN)
					}
					walk(p, sub, st)
				}
				return
			}
			if keyed := byKey(prefix, v); keyed != nil {
				for k, sub := range keyed {
					out[k+entryMark] = "1" // an entry added or removed is named whole
					walk(k, sub, fieldType(t, ""))
				}
				return
			}
			b, _ := json.Marshal(v)
			out[prefix] = string(b)
		}
		walk("", m, reflect.TypeFor[appspec.Spec]())
		return out
	}
	fa, fb := flat(a), flat(b)
	if fa == nil || fb == nil {
		return ""
	}
	// The cause names the version already, and a new version's image. The
	// specs are as given, without defaults: the version a spec leaves out
	// is its image's tag, and comparing the field alone named the image of
	// every new tag (an audit of CI use).
	version := func(app *appspec.App) string { return cmp.Or(app.Spec.Version, appspec.ImageTag(app.Spec.Image)) }
	skip := map[string]bool{"version": true, "image": version(a) != version(b)}
	var changed []string
	for k, v := range fb {
		if fa[k] != v && !skip[k] {
			changed = append(changed, k)
		}
	}
	for k := range fa {
		if _, ok := fb[k]; !ok && !skip[k] {
			changed = append(changed, k)
		}
	}
	// An entry in one list only is named, not each of its fields.
	var whole []string
	for _, k := range changed {
		if e, ok := strings.CutSuffix(k, entryMark); ok {
			whole = append(whole, e)
		}
	}
	changed = slices.DeleteFunc(changed, func(k string) bool {
		return strings.HasSuffix(k, entryMark) || slices.ContainsFunc(whole, func(e string) bool {
			return strings.HasPrefix(k, e+".") || strings.HasPrefix(k, e+"[")
		})
	})
	changed = append(changed, whole...)
	for _, f := range unknown {
		// Spec fields only: an object's (Revision.NotUnderstood) is no
		// field of the file.
		f, ok := strings.CutPrefix(f, "spec.")
		if !ok {
			continue
		}
		// Named as the known fields of its entry are (sidecars.proxy.mtls,
		// not sidecars[0].mtls: one entry read as two), and not again
		// inside an entry named whole (review 17a, C1).
		f = keyedPath(a, f)
		if !slices.ContainsFunc(whole, func(e string) bool { return strings.HasPrefix(f, e+".") || strings.HasPrefix(f, e+"[") }) {
			changed = append(changed, f)
		}
	}
	slices.Sort(changed)
	return prose.Some(changed, 3)
}

// fieldType is the type of key in a value of type t: a struct's field of
// that JSON name, a map's or a list's element (any key), pointers taken
// away; nil where t has none.
func fieldType(t reflect.Type, key string) reflect.Type {
	var f reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Map || t.Kind() == reflect.Slice:
		f = t.Elem()
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name == key {
				f = t.Field(i).Type
			}
		}
	}
	for f != nil && f.Kind() == reflect.Pointer {
		f = f.Elem()
	}
	return f
}

// entryMark ends the path changedFields records for each keyed entry of a
// list, so an entry in one spec only is named whole.
const entryMark = "#entry"

// byKey is list v (at prefix) by the key of its entries, so a change cause
// names the entry and field that changed (sidecars.auth.image,
// scratch[/tmp].size) where it said "sidecars" of any sidecar change (an
// audit): entries named by name are prefix.NAME, by mountPath
// prefix[PATH]. nil where v is no list of keyed entries, each key once (a
// list of values, as args, is one value).
func byKey(prefix string, v any) map[string]any {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil
	}
	out := map[string]any{}
	for _, e := range list {
		m, _ := e.(map[string]any)
		k := entryKey(prefix, m)
		if _, dup := out[k]; k == "" || dup {
			return nil
		}
		out[k] = m
	}
	return out
}

// entryKey is the path of list entry m at prefix, by its name or
// mountPath (byKey); "" when it has neither.
func entryKey(prefix string, m map[string]any) string {
	if name, ok := m["name"].(string); ok && name != "" {
		return prefix + "." + name
	} else if path, ok := m["mountPath"].(string); ok && path != "" {
		return prefix + "[" + path + "]"
	}
	return ""
}

// pathStep is one step of a field path as appspec.NotUnderstood writes it:
// a field name, or a list index ("sidecars[0].mtls").
var pathStep = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

// keyedPath is path, a field of app's spec by list index, with each index
// of a list of keyed entries (byKey) replaced by the entry's key, as
// changedFields names the known fields: sidecars[0].mtls is
// sidecars.proxy.mtls. The order of app's lists is the record's, since
// decoding keeps every entry. An index it cannot map stays.
func keyedPath(app *appspec.App, path string) string {
	js, err := json.Marshal(app.Spec)
	var cur any
	if err != nil || json.Unmarshal(js, &cur) != nil {
		return path
	}
	out := ""
	for _, m := range pathStep.FindAllStringSubmatch(path, -1) {
		if m[2] == "" { // a field
			out = strings.TrimPrefix(out+"."+m[1], ".")
			obj, _ := cur.(map[string]any)
			cur = obj[m[1]]
			continue
		}
		list, _ := cur.([]any)
		i, _ := strconv.Atoi(m[2])
		if byKey(out, list) == nil || i >= len(list) {
			out += "[" + m[2] + "]"
			cur = nil
			continue
		}
		entry, _ := list[i].(map[string]any)
		out, cur = entryKey(out, entry), entry
	}
	return out
}
