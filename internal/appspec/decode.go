package appspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/spelling"
)

// MaxFileSize bounds a spec file; config files belong in it, images do not.
const MaxFileSize = 512 * 1024

// FieldError is one problem with a spec file: where, what, and the fix.
type FieldError struct {
	File  string // the file name as the user gave it
	Field string // JSON path in the file, e.g. "spec.memory"
	Msg   string // what is wrong
	Fix   string // what to do, may be empty
	// OfFile says Msg of the whole file, as a sentence that goes on from its
	// name: "multi.yaml holds 2 documents", no colon.
	OfFile bool
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.OfFile {
		b.WriteString(" ")
	} else {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// ErrInvalid is wrapped by every error Load returns for a bad file, so
// callers can tell bad input from I/O failures with errors.Is.
var ErrInvalid = errors.New("invalid app spec")

// Errors is every problem found in one file.
type Errors []*FieldError

func (errs Errors) Error() string {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) hold.
func (errs Errors) Is(target error) bool { return target == ErrInvalid }

// Load decodes, defaults and validates the spec file data named file, as
// kubectl zz deploy -f does with one file and no flags (DecodeLayers). The
// returned error is an Errors listing every problem.
func Load(file string, data []byte) (*App, error) {
	l, err := DecodeLayers([]Source{{Name: file, Data: data}}, nil)
	if err != nil {
		return nil, err
	}
	if errs := l.Validate(); len(errs) > 0 {
		return nil, errs
	}
	return l.App, nil
}

// Decode parses data strictly: YAML or JSON, one document, no unknown or
// duplicate fields, no value of the wrong type. It neither defaults nor
// validates.
func Decode(file string, data []byte) (*App, error) {
	d := decodeFile(file, data)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	app, errs := d.app()
	if len(errs) > 0 {
		return nil, errs
	}
	return app, nil
}

// decoded is one source decoded leniently: the fields that fit App, and
// every problem of the rest.
type decoded struct {
	name string
	m    map[string]any // the fields that fit, nil when fatal
	errs Errors         // unknown fields, wrong types, or why nothing decoded
	bad  []string       // the paths of the values of the wrong type, removed from m
	// fatal is a source that did not decode at all (not YAML, empty, two
	// documents, a Kubernetes manifest): what it meant to set is unknown.
	fatal bool
}

// app turns d.m into an App.
func (d *decoded) app() (*App, Errors) {
	return appFromMap(d.name, d.m)
}

func appFromMap(name string, m map[string]any) (*App, Errors) {
	var app App
	js, err := json.Marshal(m)
	if err == nil {
		_, err = sigsjson.UnmarshalStrict(js, &app) // check kept only what fits
	}
	if err != nil {
		return &app, Errors{{File: name, Msg: trimJSONErr(err), Fix: "see the field list in README.md (kubectl zz deploy)"}}
	}
	return &app, nil
}

func fatal(file, msg, fix string) *decoded {
	return &decoded{name: file, errs: Errors{{File: file, Msg: msg, Fix: fix}}, fatal: true}
}

// decodeFile decodes a spec file leniently: the unknown fields and the values
// of the wrong type are reported and left out, the rest decoded all the same,
// so that validation can report the rest at once.
func decodeFile(file string, data []byte) *decoded {
	if len(data) > MaxFileSize {
		return fatal(file, fmt.Sprintf("file is %d bytes, more than %d", len(data), MaxFileSize), "keep large config out of the app spec")
	}
	var docs [][]byte // the documents that hold something
	for _, doc := range splitDocuments(data) {
		if js, err := yaml.YAMLToJSON(doc); err != nil || strings.TrimSpace(string(js)) != "null" {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		return fatal(file, "file is empty", "write at least name, spec.type and spec.image")
	}
	y11, coerced := yaml11Keys(file, docs[0])
	js, err := yaml.YAMLToJSONStrict(docs[0])
	if err != nil && len(y11) > 0 {
		return &decoded{name: file, errs: y11, fatal: true} // "key true already set": the coercion is why
	}
	if err != nil {
		return fatal(file, "not valid YAML: "+trimYAMLErr(err), "check indentation and that no key appears twice")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fatal(file, "not valid YAML: "+err.Error(), "check indentation")
	}
	m, ok := v.(map[string]any)
	if !ok {
		d := fatal(file, fmt.Sprintf("is a %s, not a map of fields", jsonKind(v)), "start the file with name: and spec:")
		d.errs[0].OfFile = true
		return d
	}
	// Say what the file is before what is wrong with its fields: the fields
	// of a Deployment are all wrong for an App.
	if d := printed(file, m); d != nil {
		return d
	}
	if d := foreign(file, m); d != nil {
		return d
	}
	if len(docs) > 1 {
		d := fatal(file, fmt.Sprintf("holds %d documents", len(docs)), "kubectl zz deploy takes one app spec per file: split them and deploy each")
		d.errs[0].OfFile = true
		// The fix goes on after a colon, as one sentence.
		d.errs[0].Msg += "; " + d.errs[0].Fix
		d.errs[0].Fix = ""
		return d
	}
	d := decodeMap(file, m)
	if len(y11) > 0 {
		// Every problem at once: the coerced keys are said once, as what
		// they are, and the rest goes on.
		d.errs = append(y11, without(d.errs, coerced)...)
		d.bad = append(d.bad, coerced...)
	}
	return d
}

// yaml11Bools are the plain scalars YAML 1.1 reads as booleans and YAML
// 1.2 as strings: y, yes, on, n, no, off, in their three cases.
var yaml11Bools = map[string]bool{}

func init() {
	for _, w := range []string{"y", "yes", "on", "n", "no", "off"} {
		yaml11Bools[w], yaml11Bools[strings.ToUpper(w)], yaml11Bools[strings.ToUpper(w[:1])+w[1:]] = true, true, true
	}
}

// yaml11Keys finds the map keys of doc that YAML 1.1 reads as booleans:
// Kubernetes' YAML reader (and so this one) turns env: {Y: "1"} into an
// env var named "true" without a word (an app-developer audit). Each is
// refused with its line and the quoting that keeps it. A doc that does not
// parse is left to the strict decode, which says why.
func yaml11Keys(file string, doc []byte) (errs Errors, coerced []string) {
	var root yamlv3.Node
	if yamlv3.Unmarshal(doc, &root) != nil {
		return nil, nil
	}
	var walk func(n *yamlv3.Node, path string)
	walk = func(n *yamlv3.Node, path string) {
		switch n.Kind {
		case yamlv3.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yamlv3.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := strings.TrimPrefix(path+"."+k.Value, ".")
				if k.Kind == yamlv3.ScalarNode && k.Style == 0 && yaml11Bools[k.Value] {
					as := map[bool]string{true: "true", false: "false"}[slices.Contains([]string{"y", "yes", "on"}, strings.ToLower(k.Value))]
					errs = append(errs, &FieldError{File: file, Field: p,
						Msg: fmt.Sprintf("the key %s (line %d) is read as %s by YAML 1.1, as Kubernetes tools read it", k.Value, k.Line, as),
						Fix: fmt.Sprintf("quote it: %q", k.Value)})
					coerced = append(coerced, strings.TrimPrefix(path+"."+as, "."))
				}
				walk(v, p)
			}
		case yamlv3.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(&root, "")
	return errs, coerced
}

// decodeMap checks m, a JSON object decoded with UseNumber, against App,
// removing what does not fit.
func decodeMap(name string, m map[string]any) *decoded {
	d := &decoded{name: name, m: m}
	d.check(m, reflect.TypeFor[App](), "")
	// One list of the known fields per place, after its last unknown one,
	// not a list of forty names for each.
	last := map[string]int{}
	for i, e := range d.errs {
		if strings.HasPrefix(e.Fix, knownFields) {
			last[e.Fix] = i
		}
	}
	for i, e := range d.errs {
		if j, ok := last[e.Fix]; ok && j != i {
			e.Fix = "the known fields are listed below"
		}
	}
	return d
}

// foreign says a file is a Kubernetes manifest (or another tool's), not an
// App: a kind other than App, with metadata or an apiVersion not of zz.io.
// A kind: Deployment in an app spec (no metadata, apiVersion zz.io/v1 or
// none) is a field error of kind instead.
func foreign(file string, m map[string]any) *decoded {
	kind, _ := m["kind"].(string)
	api, _ := m["apiVersion"].(string)
	_, meta := m["metadata"]
	if kind == "" || kind == Kind || !(meta || api != "" && !strings.HasPrefix(api, contract.Prefix)) {
		return nil
	}
	what := "Kubernetes " + kind
	if api != "" {
		what += " (" + api + ")"
	}
	d := fatal(file, fmt.Sprintf("is a %s, not a kubectl zz app spec (apiVersion %s, kind %s): apply it with kubectl apply, or write an app spec (README \"Deploying apps\")",
		what, APIVersion, Kind), "")
	d.errs[0].OfFile = true
	return d
}

// printed says a file is what kubectl zz prints of an app, not its spec:
// status and deploy -o yaml (kind App, apiVersion zz.io/v1 as a spec's,
// with metadata and the app's state), history -o yaml (kind Revision), or a
// List of them. Fed back to deploy -f, the List was called a Kubernetes
// manifest to apply with kubectl apply, which knows no kind App, and one
// item of it gave fifteen unknown fields (an adoption audit).
func printed(file string, m map[string]any) *decoded {
	obj := m
	if kind, _ := m["kind"].(string); kind == "List" {
		items, _ := m["items"].([]any)
		if len(items) == 0 {
			return nil
		}
		obj, _ = items[0].(map[string]any)
	}
	api, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	app, _ := obj["app"].(string)
	_, meta := obj["metadata"]
	if !strings.HasPrefix(api, contract.Prefix) || app == "" || !meta || kind != Kind && kind != "Revision" {
		return nil
	}
	what := "state (kubectl zz status or deploy -o yaml)"
	if kind == "Revision" {
		what = "revision records (kubectl zz history -o yaml)"
	}
	d := fatal(file, fmt.Sprintf("is app %s's %s, not an app spec: kubectl zz history %s --spec prints the spec its latest revision was deployed from (--revision N: another's)", app, what, app), "")
	d.errs[0].OfFile = true
	return d
}

// splitDocuments splits YAML at its document separators: lines "---", or
// "--- " and more, which starts the next document.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	for line := range bytes.Lines(data) {
		if bytes.HasPrefix(line, []byte("---")) && (len(line) == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\n' || line[3] == '\r') {
			docs = append(docs, cur)
			cur = append([]byte(nil), line[3:]...)
			continue
		}
		cur = append(cur, line...)
	}
	return append(docs, cur)
}

// check walks v, a value decoded from JSON, against t: it reports the fields
// that t lacks and the values of the wrong type, removing them from their
// maps, and returns false when v itself does not fit t (the caller removes
// it). A list with an element that does not fit does not fit.
func (d *decoded) check(v any, t reflect.Type, path string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return true // null: the zero value, or the field removed
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return d.wrongType(path, "a map of fields", v)
		}
		for _, k := range fieldOrder(t, m) {
			p := join(path, k)
			f, ok := fieldByTag(t, k)
			if !ok {
				d.errs = append(d.errs, &FieldError{File: d.name, Field: p, Msg: "unknown field", Fix: suggest(p)})
				delete(m, k)
				continue
			}
			if !d.check(m[k], f.Type, p) {
				delete(m, k)
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return d.wrongType(path, "a map", v)
		}
		for _, k := range sortedKeys(m) {
			if !d.check(m[k], t.Elem(), join(path, k)) {
				delete(m, k)
			}
		}
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			return d.wrongType(path, "a list", v)
		}
		fits := true
		for i, e := range s {
			fits = d.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)) && fits
		}
		if !fits {
			d.bad = append(d.bad, path)
		}
		return fits
	default:
		js, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(js, reflect.New(t).Interface())
		}
		if err != nil {
			return d.wrongType(path, t.Kind().String(), v) // string for Type
		}
	}
	return true
}

func (d *decoded) wrongType(path, want string, v any) bool {
	e := &FieldError{File: d.name, Field: path, Msg: fmt.Sprintf("expected %s, got %s", want, jsonKind(v))}
	switch v := v.(type) {
	case json.Number:
		e.Msg += " " + v.String()
	case string:
		e.Msg += fmt.Sprintf(" %q", v)
	}
	if s, ok := v.(string); ok && strings.HasPrefix(want, "int") {
		// minReadySeconds: 10s, as the duration fields beside it are written.
		if dur, err := time.ParseDuration(s); err == nil && dur >= 0 && dur%time.Second == 0 {
			e.Fix = fmt.Sprintf("write the seconds as a number: %d", int64(dur/time.Second))
		}
	}
	if want == "string" {
		if _, ok := v.(map[string]any); !ok {
			if _, ok := v.([]any); !ok {
				e.Fix = "quote it"
			}
		}
	}
	d.errs = append(d.errs, e)
	d.bad = append(d.bad, path)
	return false
}

// jsonKind names the kind of a value decoded from JSON as YAML calls it.
func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "list"
	case map[string]any:
		return "map"
	}
	return fmt.Sprintf("%T", v)
}

// fieldOrder is m's keys in the order of t's fields, the unknown ones last.
func fieldOrder(t reflect.Type, m map[string]any) []string {
	index := func(k string) int {
		for i := range t.NumField() {
			if tagName(t.Field(i)) == k {
				return i
			}
		}
		return t.NumField()
	}
	keys := sortedKeys(m)
	slices.SortStableFunc(keys, func(a, b string) int { return index(a) - index(b) })
	return keys
}

// without drops the validation errors of the fields whose values were of the
// wrong type (bad) or that hold one: they say what was left out, not what the
// file says.
func without(errs Errors, bad []string) Errors {
	var out Errors
	for _, e := range errs {
		if !slices.ContainsFunc(bad, func(b string) bool { return overlaps(e.Field, b) }) {
			out = append(out, e)
		}
	}
	return out
}

// overlaps reports whether one path is the other or holds it.
func overlaps(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return a != "" && strings.HasPrefix(b, a) && (len(b) == len(a) || b[len(a)] == '.' || b[len(a)] == '[')
}

// kubernetesWords are what the spec says for the pod and container fields
// a Kubernetes user writes first (an app-developer audit: each got the
// list of every field instead).
var kubernetesWords = map[string]string{
	"resources":                 "Kubernetes' resources are spec.cpu and spec.memory here (requests = limits)",
	"serviceaccountname":        "Kubernetes' serviceAccountName is spec.serviceAccount here",
	"containerport":             "Kubernetes' containerPort is spec.port here (spec.ports for more)",
	"livenessprobe":             "the probes are rendered from spec.healthPath, spec.healthCheck for rpc, or spec.healthCommand, a command on any type (spec.startupTimeout for a slow start, spec.healthTimeout for a slow check)",
	"readinessprobe":            "the probes are rendered from spec.healthPath, spec.healthCheck for rpc, or spec.healthCommand, a command on any type (spec.startupTimeout for a slow start, spec.healthTimeout for a slow check)",
	"startupprobe":              "a startup probe is spec.startupTimeout here, e.g. 5m; a sidecar's that holds the app until it is up is spec.sidecars[].startup: {port: NAME, path: /startup}",
	"volumes":                   "a volume is spec.pvc (one claim), spec.configFiles, spec.secretFiles (Secrets as files) or spec.scratch (emptyDir) here; README's \"What the spec does not say\" lists the rest",
	"volumemounts":              "mounts are spec.pvc.mountPath, spec.configDir, spec.secretFiles[].mountPath and spec.scratch[].mountPath here",
	"initcontainers":            "spec.initCommand runs a command before the app in each pod (its image, env and files), spec.sidecars containers beside it (native sidecars); other init containers: README's \"What the spec does not say\"",
	"containers":                "the spec runs the app's container; others beside it are spec.sidecars: [{name: db-proxy, image: ...}]",
	"tolerations":               "where pods run is spec.pool here (the webhook's policy keeps pools on their nodes)",
	"nodeselector":              "where pods run is spec.pool here (the webhook's policy keeps pools on their nodes)",
	"affinity":                  "spreading is spec.antiAffinity (hosts) and spec.zoneSpread (zones) here, where pods run spec.pool",
	"topologyspreadconstraints": "spreading over zones is spec.zoneSpread here (preferred or required), over hosts spec.antiAffinity",
	"emptydir":                  "an emptyDir is spec.scratch here: [{mountPath: /tmp, size: 1Gi}], memory: true for a tmpfs",
	"exec":                      "an exec probe is spec.healthCommand here: [pg_isready, -U, app], for readiness, liveness and startup",
	"imagepullpolicy":           "the pull policy follows the tag: Always for :latest or none (each start pulls it), else IfNotPresent",
}

// suggest proposes the known field closest to the unknown one at path.
func suggest(path string) string {
	parts := strings.Split(path, ".")
	t := reflect.TypeFor[App]()
	mapKey := false // the next part is a key of a map of t
	for _, p := range parts[:len(parts)-1] {
		if mapKey {
			mapKey = false
			continue
		}
		name, _, _ := strings.Cut(p, "[") // envFrom[0]
		f, ok := fieldByTag(t, name)
		if !ok {
			return ""
		}
		t = f.Type
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			mapKey = mapKey || t.Kind() == reflect.Map
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return ""
		}
	}
	unknown := strings.ToLower(parts[len(parts)-1])
	if len(parts) == 1 && unknown == "metadata" {
		// kubectl's habit: the list of the four fields, then "name:
		// missing", left the name's place to guess (an app-developer audit).
		return "a kubectl zz spec has no metadata: the app's name is the top-level name: beside apiVersion, kind and spec (name: shop), its labels and annotations spec.labels and spec.annotations"
	}
	if len(parts) == 1 {
		// A flat file (image: at the top, as other tools' specs have it):
		// say where the field goes rather than list the four top-level ones.
		if spec, ok := fieldByTag(t, "spec"); ok {
			if f, ok := fieldByTag(spec.Type, parts[0]); ok {
				return fmt.Sprintf("it belongs under spec (spec.%s)", tagName(f))
			}
		}
	}
	if w, ok := kubernetesWords[unknown]; ok && len(parts) == 2 && parts[0] == "spec" {
		return w
	}
	// A close name: one edit away, two for a longer one (memroy).
	best, bestDist := "", min(2, max(1, len(unknown)/3))+1
	var names []string
	for i := range t.NumField() {
		name := tagName(t.Field(i))
		names = append(names, name)
		if d := spelling.Distance(unknown, strings.ToLower(name)); d < bestDist {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return knownFields + strings.Join(names, ", ")
}

// knownFields starts the fix that lists a place's fields.
const knownFields = "known fields here: "

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if tagName(t.Field(i)) == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

func trimYAMLErr(err error) string {
	return strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
}

// trimJSONErr turns "json: cannot unmarshal string into Go struct field
// Spec.spec.replicas of type int32" into "spec.replicas: expected int32, got string".
func trimJSONErr(err error) string {
	msg := strings.TrimPrefix(err.Error(), "json: ")
	var got, field, want string
	if n, _ := fmt.Sscanf(msg, "cannot unmarshal %s into Go struct field %s of type %s", &got, &field, &want); n == 3 {
		if _, after, ok := strings.Cut(field, "."); ok {
			field = after
		}
		return fmt.Sprintf("%s: expected %s, got %s", field, want, got)
	}
	return msg
}
