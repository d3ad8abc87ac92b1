package appspec

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/prose"
)

// Lists across layers. A later file (or --set) that restates a list
// replaces it whole, as Helm's values do; an entry an earlier layer named
// and the later one left out is then gone, and an audit saw an overlay that
// meant to give the log shipper more memory drop the auth proxy in front of
// the app unsaid. Each such entry is said (Warnings); the rule stays.

// replaced records the warning for a list at path that source replaces
// whole: the entries (by name, or mountPath) of old that next lacks.
func (l *Layered) replaced(path string, old, next []any, source string) {
	if l.indexing {
		return // an indexed --set changes one entry in place
	}
	kept := map[string]bool{}
	for _, e := range next {
		kept[entryKey(e)] = true
	}
	var gone []string
	for _, e := range old {
		if k := entryKey(e); k != "" && !kept[k] {
			gone = append(gone, entryWords(path, e, k))
		}
	}
	if len(gone) == 0 {
		return
	}
	verb := "is"
	if len(gone) > 1 {
		verb = "are"
	}
	what := prose.Some(gone, len(gone))
	if path == "spec.sidecars" {
		what = "sidecar" + plural(len(gone)) + " " + what
	}
	l.warnings = append(l.warnings, fmt.Sprintf("%s replaces %s of %s whole: %s %s no longer in the spec; lists are replaced whole, as Helm's values: restate %s in %s to keep %s",
		source, path, l.origin[path], what, verb, pronoun(len(gone)), source, pronoun(len(gone))))
}

func plural(n int) string {
	if n > 1 {
		return "s"
	}
	return ""
}

func pronoun(n int) string {
	if n > 1 {
		return "them"
	}
	return "it"
}

// entryKey is what names a list entry of the spec: its name (sidecars,
// ports), its mountPath (scratch, secretFiles) or its ConfigMap or Secret
// (envFrom); "" for a plain value (args, gpuModels), whose list is one
// value as a whole.
func entryKey(e any) string {
	m, ok := e.(map[string]any)
	if !ok {
		return ""
	}
	for _, k := range []string{"name", "mountPath", "configMap", "secret"} {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// entryWords names entry e (key k) of the list at path; a sidecar with a
// front port says so, as what its loss does is the Service's.
func entryWords(path string, e any, k string) string {
	if path != "spec.sidecars" {
		return k
	}
	ports, _ := e.(map[string]any)["ports"].([]any)
	for _, p := range ports {
		if pm, ok := p.(map[string]any); ok && pm["front"] == true {
			return k + " (front)"
		}
	}
	return k
}

// Warnings are what the layers did that the user may not have meant:
// entries of an earlier file's list that a later one left out.
func (l *Layered) Warnings() []string { return l.warnings }

// step is one part of a --set path: a key, or an index into a list.
type step struct {
	key   string
	index int // -1 for a key
}

func (s step) String() string {
	if s.index >= 0 {
		return fmt.Sprintf("[%d]", s.index)
	}
	return "." + s.key
}

func pathOf(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		b.WriteString(s.String())
	}
	return strings.TrimPrefix(b.String(), ".")
}

// pathEscapes are what a backslash makes part of a --set key, as Helm's
// --set reads its keys: a dot (spec.annotations.prometheus\.io/port), a
// bracket, an equals sign, the backslash itself. Before any other character
// a backslash is itself.
const pathEscapes = `.[]=\`

// escaped says whether s[i] is a backslash that escapes s[i+1].
func escaped(s string, i int) bool {
	return s[i] == '\\' && i+1 < len(s) && strings.IndexByte(pathEscapes, s[i+1]) >= 0
}

// cutSet splits a --set at its first '=' that no backslash escapes.
func cutSet(set string) (path, value string, ok bool) {
	for i := 0; i < len(set); i++ {
		switch {
		case escaped(set, i):
			i++
		case set[i] == '=':
			return set[:i], set[i+1:], true
		}
	}
	return set, "", false
}

// parsePath splits a --set path into its steps, Helm's syntax: keys at
// dots, list indexes in brackets (sidecars[0] is the key sidecars, then
// index 0), where a backslash makes the next '.', '[', ']', '=' or '\'
// part of the key (spec.env.A\[0\] is the key A[0], never an index).
func parsePath(path string) ([]step, error) {
	var out []step
	var key strings.Builder
	for i := 0; i <= len(path); i++ {
		switch {
		case i == len(path) || path[i] == '.':
			out = append(out, step{key: key.String(), index: -1})
			key.Reset()
		case escaped(path, i):
			key.WriteByte(path[i+1])
			i++
		case path[i] == '[':
			out = append(out, step{key: key.String(), index: -1})
			key.Reset()
			j := i
			for j < len(path) && path[j] == '[' {
				n, after, ok := strings.Cut(path[j+1:], "]")
				k, err := strconv.Atoi(n)
				if !ok || err != nil || k < 0 || (after != "" && after[0] != '[' && after[0] != '.') {
					rest, _, _ := strings.Cut(path[i:], ".")
					return nil, fmt.Errorf("%q is not a list index", rest)
				}
				out = append(out, step{index: k})
				j = len(path) - len(after)
			}
			if j == len(path) {
				return out, nil
			}
			i = j // the dot after the index: the next key starts past it
		default:
			key.WriteByte(path[i])
		}
	}
	return out, nil
}

// keysOf is steps as the keys of a document, each index kept with its key
// (nosuch[0]), which decoding then names as an unknown field.
func keysOf(steps []step) []string {
	var keys []string
	for _, s := range steps {
		if s.index >= 0 && len(keys) > 0 {
			keys[len(keys)-1] += s.String()
			continue
		}
		keys = append(keys, s.key)
	}
	return keys
}

// typeAt is the type of App that steps lead to, nil where they lead to no
// field (decoding says which); a key into a list is an error that says how
// to index it.
func typeAt(steps []step) (reflect.Type, error) {
	t := reflect.TypeFor[App]()
	for i, s := range steps {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t.Kind() == reflect.Slice && s.index < 0:
			list := pathOf(steps[:i])
			return nil, fmt.Errorf("%s is a list: index it as Helm does (--set %s[0].%s=...), or set the whole list (--set '%s=[...]')", list, list, pathOf(steps[i:]), list)
		case t.Kind() == reflect.Slice:
			t = t.Elem()
		case s.index >= 0:
			return nil, fmt.Errorf("%s is not a list: drop [%d]", pathOf(steps[:i]), s.index)
		case t.Kind() == reflect.Struct:
			f, ok := fieldByTag(t, s.key)
			if !ok {
				return nil, nil
			}
			t = f.Type
		case t.Kind() == reflect.Map:
			t = t.Elem()
		default:
			return nil, nil
		}
	}
	return t, nil
}

// indexedSet is the document a --set whose path indexes a list stands for:
// the list as the layers before it left it, with the one entry changed
// (index len(list) appends one, as Helm does), the path of that list, and
// the paths of the entries the --set appended.
func indexedSet(merged map[string]any, steps []step, raw string, isStr bool) (map[string]any, string, []string, error) {
	first := 0
	for first < len(steps) && steps[first].index < 0 {
		first++
	}
	listPath := pathOf(steps[:first])
	var cur any = merged
	for _, s := range steps[:first] {
		m, _ := cur.(map[string]any)
		cur = m[s.key]
	}
	list, _ := cur.([]any)
	var v any = raw
	if !isStr {
		if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
			return nil, listPath, nil, fmt.Errorf("%q is not a value; quote it, or write YAML such as [a, b]", raw)
		}
	}
	// A copy: a --set that fails leaves the earlier layers' list as it was.
	var cp []any
	if js, err := json.Marshal(list); err == nil {
		_ = json.Unmarshal(js, &cp)
	}
	next, added, err := setIn(cp, steps[first:], v, listPath)
	if err != nil {
		return nil, listPath, nil, err
	}
	doc := next
	for i := first - 1; i >= 0; i-- {
		doc = map[string]any{steps[i].key: doc}
	}
	m, _ := doc.(map[string]any)
	return m, listPath, added, nil
}

// setIn sets v at steps inside cur (at path), returning the new cur and
// the paths of the entries it appended.
func setIn(cur any, steps []step, v any, path string) (any, []string, error) {
	if len(steps) == 0 {
		return v, nil, nil
	}
	s := steps[0]
	if s.index < 0 {
		m, _ := cur.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		sub, added, err := setIn(m[s.key], steps[1:], v, join(path, s.key))
		m[s.key] = sub
		return m, added, err
	}
	list, _ := cur.([]any)
	entry := fmt.Sprintf("%s[%d]", path, s.index)
	var added []string
	switch {
	case s.index == len(list):
		list = append(list, nil) // appended, as Helm's --set does
		added = append(added, entry)
	case s.index > len(list):
		return nil, nil, errors.New(outOfRange(path, len(list)))
	}
	sub, more, err := setIn(list[s.index], steps[1:], v, entry)
	list[s.index] = sub
	return list, append(added, more...), err
}

// at is what steps lead to inside v, nil where they lead nowhere.
func at(v any, steps []step) any {
	for _, s := range steps {
		if s.index < 0 {
			m, _ := v.(map[string]any)
			v = m[s.key]
			continue
		}
		list, _ := v.([]any)
		if s.index >= len(list) {
			return nil
		}
		v = list[s.index]
	}
	return v
}

// outOfRange says how to index a list of n entries.
func outOfRange(path string, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%s has no entries: index 0 appends one, or set the whole list (--set '%s=[...]')", path, path)
	case 1:
		return fmt.Sprintf("%s has 1 entry: index 0 sets it, 1 appends one", path)
	}
	return fmt.Sprintf("%s has %d entries: index 0 to %d sets one, %d appends one", path, n, n-1, n)
}

// indexedSet applies set when its path indexes a list
// (spec.sidecars[0].image=...), into the list the layers before it merged,
// and reports whether it did (or refused it); false leaves set to setValue.
func (l *Layered) indexedSet(merged map[string]any, set string) bool {
	path, raw, ok := cutSet(set)
	if !ok {
		return false
	}
	steps, err := parsePath(path)
	if err != nil {
		return false // setValue says what is wrong
	}
	if steps, err = byName(merged, steps); err != nil {
		l.errs = append(l.errs, &FieldError{File: setName(set), Field: path, Msg: err.Error()})
		l.bad[path] = setName(set)
		l.origin[path] = setName(set)
		return true
	}
	if !slices.ContainsFunc(steps, func(s step) bool { return s.index >= 0 }) {
		return false
	}
	t, err := typeAt(steps)
	if err != nil || t == nil {
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	doc, listPath, added, err := indexedSet(merged, steps, raw, t.Kind() == reflect.String)
	if err != nil {
		l.errs = append(l.errs, &FieldError{File: setName(set), Field: pathOf(steps), Msg: err.Error()})
		l.bad[pathOf(steps)] = setName(set)
		l.origin[pathOf(steps)] = setName(set)
		return true
	}
	l.replacedEntry(set, steps, at(merged, steps), at(doc, steps))
	js, _ := json.Marshal(doc)
	prev, had := l.origin[listPath]
	l.indexing = true
	l.add(merged, decodeFile(setName(set), js))
	l.indexing = false
	if had && l.origin[listPath] == setName(set) && l.bad[listPath] != setName(set) {
		// The list is still the earlier layers' but for this entry: an
		// error of another entry names the file that set it.
		l.origin[listPath] = prev
	}
	// An entry this --set appended is its own, whatever file set the list:
	// its errors (a missing image) name the --set (Source walks up to it).
	for _, p := range added {
		l.origin[p] = setName(set)
	}
	l.origin[pathOf(steps)] = setName(set)
	return true
}

// replacedEntry warns when an indexed --set replaces a whole named entry
// (spec.sidecars[0]={...}) with one of another name: the entry it held (the
// auth proxy in front of the app) is gone, as a whole-list --set's would be.
func (l *Layered) replacedEntry(set string, steps []step, old, next any) {
	if len(steps) == 0 || steps[len(steps)-1].index < 0 {
		return // a field of the entry, not the entry
	}
	k := entryKey(old)
	if k == "" || entryKey(next) == k {
		return
	}
	list := pathOf(steps[:len(steps)-1])
	what := entryWords(list, old, k)
	if list == "spec.sidecars" {
		what = "sidecar " + what
	}
	with := cmp.Or(entryKey(next), "an entry with no name")
	hint := "restate it in the --set to keep it"
	if m, _ := old.(map[string]any); m["name"] == k {
		hint = fmt.Sprintf("to change one field of it, set that field (--set %s.%s.<field>=...)", list, k)
	}
	l.warnings = append(l.warnings, fmt.Sprintf("%s replaces %s of %s whole: %s is no longer in the spec, %s is there instead; %s",
		setName(set), pathOf(steps), l.Source(pathOf(steps)), what, with, hint))
}

// byName turns a key into a list of named entries (sidecars, ports) into
// the index of the entry of that name in the list the layers merged:
// spec.sidecars.auth.image is spec.sidecars[i].image where entry i is
// named auth, which holds whatever the order of the list in each
// environment's file. An unknown name is an error listing the names.
func byName(merged map[string]any, steps []step) ([]step, error) {
	t := reflect.TypeFor[App]()
	var cur any = merged
	out := slices.Clone(steps)
	for i, s := range out {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Slice:
			list, _ := cur.([]any)
			if s.index < 0 {
				// A list of values (spec.args) has no names: fieldByTag
				// only on a struct, else it panics (FuzzSetPath found
				// --set spec.args.0=x).
				if t.Elem().Kind() != reflect.Struct {
					return out, nil // typeAt says how to index it
				}
				if _, named := fieldByTag(t.Elem(), "name"); !named {
					return out, nil // typeAt says how to index it
				}
				var names []string
				for j, e := range list {
					// An earlier file may hold anything here ([null],
					// [plain], a typo'd "-"): decoding says what is wrong.
					m, _ := e.(map[string]any)
					name, _ := m["name"].(string)
					if name == s.key {
						out[i] = step{index: j}
						break
					}
					names = append(names, name)
				}
				if _, field := fieldByTag(t.Elem(), s.key); out[i].index < 0 && field && len(names) > 0 {
					list := pathOf(out[:i])
					return nil, fmt.Errorf("%s is a list: index it as Helm does (--set %s[0].%s=...), or name the entry (--set %s.%s.%s=...)",
						list, list, pathOf(out[i:]), list, names[0], pathOf(out[i:]))
				}
				if out[i].index < 0 {
					list := pathOf(out[:i])
					return nil, fmt.Errorf("%s has no entry named %s (%s); index one as Helm does (--set %s[0]...), or add it (--set %s[%d].name=%s)",
						list, s.key, cmp.Or(strings.Join(names, ", "), "it has none"), list, list, len(names), s.key)
				}
			}
			t = t.Elem()
			if idx := out[i].index; idx < len(list) {
				cur = list[idx]
			} else {
				cur = nil
			}
		case reflect.Struct:
			f, ok := fieldByTag(t, s.key)
			if !ok || s.index >= 0 {
				return out, nil
			}
			t = f.Type
			m, _ := cur.(map[string]any)
			cur = m[s.key]
		default:
			return out, nil
		}
	}
	return out, nil
}
