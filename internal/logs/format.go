package logs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"text/template"
	"time"
)

// Output formats.
const (
	OutputText = "text" // "<source> <message>", the source coloured on a terminal
	OutputRaw  = "raw"  // the message only
	OutputJSON = "json" // one JSON object per line
)

// Source is where a line comes from, with its prefix and colour worked out
// once per stream.
type Source struct {
	Cluster   string `json:"cluster,omitempty"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Container string `json:"container"`
	// Previous marks the lines of a container's previous run (--previous).
	Previous bool `json:"previous,omitempty"`

	prefix string // "cluster/ns/pod/container" with the parts Format shows
	color  string // ANSI colour of the prefix, "" without colour
}

// Line is what --template and -o json see.
type Line struct {
	Source
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

// jsonLine is Line as -o json writes it: the time with all nine digits of
// its fraction (the kubelet's stamp), so that every line's time has the
// same width and sorts as text (RFC3339Nano drops trailing zeros).
type jsonLine struct {
	Source
	Time    string `json:"time"`
	Message string `json:"message"`
}

const jsonTime = "2006-01-02T15:04:05.000000000Z07:00"

// TimeShort is stern's --timestamps=short: month, day and time to the
// second, in the local time.
const TimeShort = "01-02 15:04:05"

// TimeDefault is stern's --timestamps=default in a zone (--timezone): the
// kubelet's RFC 3339 with all nine fraction digits and the zone's offset.
// Without a zone zz prints the kubelet's stamp as sent instead.
const TimeDefault = jsonTime

// Format filters and formats lines. It is built once from the Config and used
// by every stream concurrently; it holds no mutable state.
type Format struct {
	Output     string
	Template   *template.Template
	Timestamps bool
	// TimeLayout, when set, writes the timestamps in this layout in
	// Location (nil: the local time) instead of the kubelet's stamp.
	TimeLayout string
	Location   *time.Location
	Include    []*regexp.Regexp // a line must match one of them (when any)
	Exclude    []*regexp.Regexp // a line matching any is dropped
	Highlight  []*regexp.Regexp // matches are shown in colour
	Color      bool
	// ShowCluster and ShowNamespace add those parts to the text prefix.
	ShowCluster, ShowNamespace bool
}

const (
	ansiReset     = "\x1b[0m"
	ansiHighlight = "\x1b[1;31m"
)

// palette colours sources; the same source always gets the same colour.
var palette = []string{"\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[35m", "\x1b[36m", "\x1b[92m", "\x1b[93m", "\x1b[94m", "\x1b[95m", "\x1b[96m"}

// NewSource fills in the prefix and colour of a source.
func (f *Format) NewSource(cluster string, t Target) *Source {
	s := &Source{Cluster: cluster, Namespace: t.Namespace, Pod: t.Pod, Container: t.Container, Previous: t.Previous}
	var b bytes.Buffer
	if f.ShowCluster {
		b.WriteString(cluster + "/")
	}
	if f.ShowNamespace {
		b.WriteString(t.Namespace + "/")
	}
	b.WriteString(t.Pod + "/" + t.Container)
	s.prefix = b.String()
	if f.Color {
		h := fnv.New32a()
		h.Write([]byte(cluster + "/" + t.Key()))
		s.color = palette[h.Sum32()%uint32(len(palette))]
	}
	return s
}

// Sign colours of the "+"/"-" lines in colour (stern's: green, red).
const (
	ansiJoin  = "\x1b[32m"
	ansiLeave = "\x1b[31m"
)

// announce is the "+ prefix" / "- prefix" line of a stream starting or
// ending, coloured as stern colours it when the lines are: the sign green
// or red, the prefix in its lines' colour.
func (f *Format) announce(sign byte, src *Source) string {
	if src.color == "" || f.Output == OutputJSON {
		return string(sign) + " " + src.prefix
	}
	c := ansiJoin
	if sign == '-' {
		c = ansiLeave
	}
	return c + string(sign) + ansiReset + " " + src.color + src.prefix + ansiReset
}

// Keep reports whether a message passes --include and --exclude.
func (f *Format) Keep(msg []byte) bool {
	for _, re := range f.Exclude {
		if re.Match(msg) {
			return false
		}
	}
	if len(f.Include) == 0 {
		return true
	}
	for _, re := range f.Include {
		if re.Match(msg) {
			return true
		}
	}
	return false
}

// Append appends the formatted line, newline included, to buf.
func (f *Format) Append(buf []byte, src *Source, ts time.Time, stamp, msg []byte) ([]byte, error) {
	switch {
	case f.Template != nil:
		var b bytes.Buffer
		if err := f.Template.Execute(&b, Line{Source: *src, Time: ts, Message: string(msg)}); err != nil {
			return buf, fmt.Errorf("--template: %w", err)
		}
		if b.Len() == 0 {
			return buf, nil // {{if}} filtered the line out, as in stern
		}
		buf = append(buf, b.Bytes()...)
		if b.Bytes()[b.Len()-1] != '\n' {
			buf = append(buf, '\n')
		}
		return buf, nil
	case f.Output == OutputJSON:
		b, err := json.Marshal(jsonLine{Source: *src, Time: ts.UTC().Format(jsonTime), Message: string(msg)})
		if err != nil {
			return buf, err
		}
		return append(append(buf, b...), '\n'), nil
	case f.Output == OutputText:
		if src.color != "" {
			buf = append(buf, src.color...)
			buf = append(buf, src.prefix...)
			buf = append(buf, ansiReset...)
		} else {
			buf = append(buf, src.prefix...)
		}
		buf = append(buf, ' ')
	}
	switch {
	case !f.Timestamps || len(stamp) == 0:
	case f.TimeLayout != "":
		loc := f.Location
		if loc == nil {
			loc = time.Local
		}
		buf = append(ts.In(loc).AppendFormat(buf, f.TimeLayout), ' ')
	default:
		buf = append(append(buf, stamp...), ' ')
	}
	buf = f.appendHighlighted(buf, msg)
	return append(buf, '\n'), nil
}

// appendHighlighted appends msg with the --highlight matches coloured.
func (f *Format) appendHighlighted(buf, msg []byte) []byte {
	if !f.Color || len(f.Highlight) == 0 {
		return append(buf, msg...)
	}
	var spans [][]int
	for _, re := range f.Highlight {
		spans = append(spans, re.FindAllIndex(msg, -1)...)
	}
	if len(spans) == 0 {
		return append(buf, msg...)
	}
	// Mark highlighted bytes, then write runs; overlapping matches merge.
	on := make([]bool, len(msg))
	for _, s := range spans {
		for i := s[0]; i < s[1]; i++ {
			on[i] = true
		}
	}
	for i := 0; i < len(msg); {
		j := i
		for j < len(msg) && on[j] == on[i] {
			j++
		}
		if on[i] {
			buf = append(buf, ansiHighlight...)
			buf = append(buf, msg[i:j]...)
			buf = append(buf, ansiReset...)
		} else {
			buf = append(buf, msg[i:j]...)
		}
		i = j
	}
	return buf
}
