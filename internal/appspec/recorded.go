package appspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// NotUnderstood lists the fields of js, an App as JSON (a spec a revision
// record holds), that this App cannot hold: unknown fields and values of
// another type, as sorted paths ("spec.futureAuth"). A record
// written by a newer kubectl-zz holds them, and decoding it into App drops
// them without a word, so a reader that re-recorded or re-applied it would
// remove what it does not know (a version-skew audit). The error says js
// is no JSON object at all.
func NotUnderstood(js []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	var out []string
	for _, e := range decodeMap("", m).errs {
		if e.Field != "" {
			out = append(out, e.Field)
		}
	}
	slices.Sort(out)
	return out, nil
}
