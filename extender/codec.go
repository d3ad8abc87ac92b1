package extender

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
)

// The scheduler sends every candidate's name on each call and reads a score
// for each back: with thousands of nodes, that JSON costs more than the
// decision. These types decode the names into one string (sub-slices, two
// allocations instead of one per name) and encode the scores into one
// pre-sized buffer, with encoding/json as the fallback for anything unusual.

// wireArgs is extenderv1.ExtenderArgs with a faster node-name list.
type wireArgs struct {
	Pod       *corev1.Pod
	Nodes     *corev1.NodeList
	NodeNames *nameList
}

func (a *wireArgs) args() *extenderv1.ExtenderArgs {
	out := &extenderv1.ExtenderArgs{Pod: a.Pod, Nodes: a.Nodes}
	if a.NodeNames != nil {
		out.NodeNames = (*[]string)(a.NodeNames)
	}
	return out
}

// nameList decodes a JSON array of strings.
type nameList []string

// UnmarshalJSON is called by encoding/json with an array it has already
// checked is valid JSON. Names without escapes or non-ASCII bytes (node
// names are DNS names) become sub-slices of one string; anything else goes
// through encoding/json.
func (l *nameList) UnmarshalJSON(data []byte) error {
	if names, ok := fastNames(data); ok {
		*l = names
		return nil
	}
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return err
	}
	*l = names
	return nil
}

func fastNames(data []byte) ([]string, bool) {
	if string(data) == "null" {
		return nil, true
	}
	n := 0
	for _, c := range data {
		switch {
		case c == '\\' || c >= utf8.RuneSelf:
			return nil, false
		case c == '"':
			n++
		}
	}
	s := string(data)
	names := make([]string, 0, n/2)
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '[' {
		return nil, false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == ']' {
		return names, true
	}
	for i < len(s) {
		if s[i] != '"' {
			return nil, false
		}
		j := i + 1
		for j < len(s) && s[j] != '"' {
			j++
		}
		if j >= len(s) {
			return nil, false
		}
		names = append(names, s[i+1:j])
		i = skipSpace(s, j+1)
		if i >= len(s) {
			return nil, false
		}
		switch s[i] {
		case ']':
			return names, true
		case ',':
			i = skipSpace(s, i+1)
		default:
			return nil, false
		}
	}
	return nil, false
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// appendPriorities appends list as JSON ([{"Host":…,"Score":…},…]).
func appendPriorities(b []byte, list extenderv1.HostPriorityList) []byte {
	b = append(b, '[')
	for i, h := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Host":`...)
		b = appendString(b, h.Host)
		b = append(b, `,"Score":`...)
		b = strconv.AppendInt(b, h.Score, 10)
		b = append(b, '}')
	}
	return append(b, ']') // nothing after the value: see writeJSON
}

// appendString appends s as a JSON string: as is when it needs no escape
// (printable ASCII without quote or backslash), else as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// prioritiesSize is a guess of the encoded size of list, to allocate once.
func prioritiesSize(list extenderv1.HostPriorityList) int {
	n := 2
	for _, h := range list {
		n += len(h.Host) + 24
	}
	return n
}
