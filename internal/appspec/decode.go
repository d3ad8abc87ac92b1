package appspec

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// MaxFileSize bounds a spec file; config files belong in it, images do not.
const MaxFileSize = 512 * 1024

// FieldError is one problem with a spec file: where, what, and the fix.
type FieldError struct {
	File  string // the file name as the user gave it
	Field string // JSON path in the file, e.g. "spec.memory"
	Msg   string // what is wrong
	Fix   string // what to do, may be empty
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteString(": ")
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

// Load decodes, defaults and validates the spec file data named file. The
// returned error is an Errors listing every problem.
func Load(file string, data []byte) (*App, error) {
	app, strict, err := decode(file, data)
	if err != nil {
		return nil, err
	}
	// Every problem at once: an unknown field (a typo) does not hide the
	// values that are wrong.
	app.Default()
	if errs := append(strict, app.Validate(file)...); len(errs) > 0 {
		return nil, errs
	}
	return app, nil
}

// Decode parses data strictly: YAML or JSON, no unknown or duplicate fields.
// It neither defaults nor validates.
func Decode(file string, data []byte) (*App, error) {
	app, strict, err := decode(file, data)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, strict
	}
	return app, nil
}

// decode is Decode with the unknown and duplicate fields apart (strict):
// the rest of the file decoded all the same. err is a file that does not
// decode at all.
func decode(file string, data []byte) (*App, Errors, error) {
	if len(data) > MaxFileSize {
		return nil, nil, Errors{{File: file, Msg: fmt.Sprintf("file is %d bytes, more than %d", len(data), MaxFileSize),
			Fix: "keep large config out of the app spec"}}
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, nil, Errors{{File: file, Msg: "file is empty", Fix: "write at least name, spec.type and spec.image"}}
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, nil, Errors{{File: file, Msg: "not valid YAML: " + trimYAMLErr(err), Fix: "check indentation and that no key appears twice"}}
	}
	var app App
	strict, err := sigsjson.UnmarshalStrict(js, &app)
	if err != nil {
		return nil, nil, Errors{{File: file, Msg: trimJSONErr(err), Fix: "see the field list in README.md (kubectl zz deploy)"}}
	}
	var errs Errors
	for _, se := range strict {
		errs = append(errs, strictError(file, se))
	}
	return &app, errs, nil
}

func strictError(file string, err error) *FieldError {
	var fe sigsjson.FieldError
	if !errors.As(err, &fe) {
		return &FieldError{File: file, Msg: err.Error()}
	}
	path := fe.FieldPath()
	if strings.HasPrefix(err.Error(), "unknown field") {
		return &FieldError{File: file, Field: path, Msg: "unknown field", Fix: suggest(path)}
	}
	return &FieldError{File: file, Field: path, Msg: "appears twice", Fix: "keep one"}
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
	if len(parts) == 1 {
		// A flat file (image: at the top, as other tools' specs have it):
		// say where the field goes rather than list the four top-level ones.
		if spec, ok := fieldByTag(t, "spec"); ok {
			if f, ok := fieldByTag(spec.Type, parts[0]); ok {
				return fmt.Sprintf("it belongs under spec (spec.%s)", tagName(f))
			}
		}
	}
	best, bestDist := "", 3
	var names []string
	for i := range t.NumField() {
		name := tagName(t.Field(i))
		names = append(names, name)
		if d := distance(unknown, strings.ToLower(name)); d < bestDist {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return "known fields here: " + strings.Join(names, ", ")
}

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

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
