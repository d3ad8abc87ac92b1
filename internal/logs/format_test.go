package logs

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/zzcloud/zz/internal/syncbuf"
)

func TestFormatAppend(t *testing.T) {
	re := regexp.MustCompile
	tg := Target{Namespace: "ns", Pod: "shop-1", Container: "app"}
	st := []byte("2026-11-23T10:00:00.5Z")
	ts := t0.Add(500_000_000)
	tests := []struct {
		name string
		f    Format
		want string
	}{
		{"text", Format{Output: OutputText}, "shop-1/app GET /x error\n"},
		{"text with cluster and namespace", Format{Output: OutputText, ShowCluster: true, ShowNamespace: true}, "east/ns/shop-1/app GET /x error\n"},
		{"text with timestamps", Format{Output: OutputText, Timestamps: true}, "shop-1/app 2026-11-23T10:00:00.5Z GET /x error\n"},
		{"text with short timestamps (stern's), in the zone given", Format{Output: OutputText, Timestamps: true, TimeLayout: TimeShort, Location: time.FixedZone("CET", 3600)}, "shop-1/app 11-23 11:00:00 GET /x error\n"},
		{"text with default timestamps in a zone (--timezone)", Format{Output: OutputText, Timestamps: true, TimeLayout: TimeDefault, Location: time.FixedZone("CST", 8*3600)}, "shop-1/app 2026-11-23T18:00:00.500000000+08:00 GET /x error\n"},
		{"text with default timestamps in UTC", Format{Output: OutputText, Timestamps: true, TimeLayout: TimeDefault, Location: time.UTC}, "shop-1/app 2026-11-23T10:00:00.500000000Z GET /x error\n"},
		{"short timestamps need --timestamps", Format{Output: OutputText, TimeLayout: TimeShort}, "shop-1/app GET /x error\n"},
		{"raw", Format{Output: OutputRaw}, "GET /x error\n"},
		{"raw with timestamps", Format{Output: OutputRaw, Timestamps: true}, "2026-11-23T10:00:00.5Z GET /x error\n"},
		{"json", Format{Output: OutputJSON}, `{"cluster":"east","namespace":"ns","pod":"shop-1","container":"app","time":"2026-11-23T10:00:00.500000000Z","message":"GET /x error"}` + "\n"},
		{"template", Format{Template: template.Must(template.New("t").Parse(`{{.Cluster}} {{.Pod}}: {{.Message}}`))}, "east shop-1: GET /x error\n"},
		{"template printing nothing: no line", Format{Template: template.Must(template.New("t").Parse(`{{if eq .Container "db"}}{{.Message}}{{end}}`))}, ""},
		{"highlight without colour: plain", Format{Output: OutputRaw, Highlight: []*regexp.Regexp{re("error")}}, "GET /x error\n"},
		{"highlight in colour", Format{Output: OutputRaw, Color: true, Highlight: []*regexp.Regexp{re("err"), re("rror"), re("GET")}}, "\x1b[1;31mGET\x1b[0m /x \x1b[1;31merror\x1b[0m\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.f.NewSource("east", tg)
			got, err := tt.f.Append(nil, src, ts, st, []byte("GET /x error"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestJSONTimeFixedWidth: -o json times keep nine fraction digits, so
// they sort as text (a whole second after a later fraction otherwise).
func TestJSONTimeFixedWidth(t *testing.T) {
	f := Format{Output: OutputJSON}
	src := f.NewSource("", Target{Namespace: "ns", Pod: "p", Container: "c"})
	var prev string
	for _, ts := range []time.Time{t0, t0.Add(20), t0.Add(500 * time.Millisecond), t0.Add(time.Second)} {
		b, err := f.Append(nil, src, ts, nil, []byte("m"))
		if err != nil {
			t.Fatal(err)
		}
		var l struct{ Time string }
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		if len(l.Time) != len("2006-01-02T15:04:05.000000000Z") || l.Time <= prev {
			t.Errorf("time %q after %q: want fixed width, sorting as text", l.Time, prev)
		}
		prev = l.Time
	}
}

func TestSourceColour(t *testing.T) {
	f := Format{Output: OutputText, Color: true}
	a1 := f.NewSource("east", Target{Namespace: "ns", Pod: "a", Container: "app"})
	a2 := f.NewSource("east", Target{Namespace: "ns", Pod: "a", Container: "app"})
	if a1.color == "" || a1.color != a2.color {
		t.Fatalf("the same source must keep one colour: %q %q", a1.color, a2.color)
	}
	colours := map[string]bool{}
	for _, p := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		colours[f.NewSource("east", Target{Namespace: "ns", Pod: p, Container: "app"}).color] = true
	}
	if len(colours) < 3 {
		t.Errorf("8 sources got only %d colours", len(colours))
	}
	got, _ := f.Append(nil, a1, t0, nil, []byte("m"))
	if want := a1.color + "a/app" + ansiReset + " m\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFormatKeep(t *testing.T) {
	re := regexp.MustCompile
	tests := []struct {
		name string
		f    Format
		msg  string
		want bool
	}{
		{"no filters", Format{}, "anything", true},
		{"include matches one", Format{Include: []*regexp.Regexp{re("ERROR"), re("WARN")}}, "WARN disk", true},
		{"include matches none", Format{Include: []*regexp.Regexp{re("ERROR")}}, "INFO ok", false},
		{"exclude wins over include", Format{Include: []*regexp.Regexp{re("ERROR")}, Exclude: []*regexp.Regexp{re("health")}}, "ERROR /health", false},
		{"exclude only", Format{Exclude: []*regexp.Regexp{re("health")}}, "GET /x", true},
	}
	for _, tt := range tests {
		if got := tt.f.Keep([]byte(tt.msg)); got != tt.want {
			t.Errorf("%s: Keep(%q) = %v, want %v", tt.name, tt.msg, got, tt.want)
		}
	}
}

// TestAnnounceColour: the "+"/"-" lines are coloured as stern's under
// --color always (the sign green or red, the prefix in its lines' colour),
// plain without colour, and never for -o json.
func TestAnnounceColour(t *testing.T) {
	tg := Target{Namespace: "ns", Pod: "shop-1", Container: "app"}
	colour := (&Format{Output: OutputText, Color: true}).NewSource("east", tg).color
	for _, tt := range []struct {
		name string
		f    Format
		sign byte
		want string
	}{
		{"plain", Format{Output: OutputText}, '+', "+ shop-1/app"},
		{"join in colour", Format{Output: OutputText, Color: true}, '+', "\x1b[32m+\x1b[0m " + colour + "shop-1/app\x1b[0m"},
		{"leave in colour", Format{Output: OutputRaw, Color: true}, '-', "\x1b[31m-\x1b[0m " + colour + "shop-1/app\x1b[0m"},
		{"json: never", Format{Output: OutputJSON, Color: true}, '-', "- shop-1/app"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.announce(tt.sign, tt.f.NewSource("east", tg)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	// A follower under --color always writes them so.
	k := newFakeKubelet()
	k.add("east/ns/shop-1/app", 1)
	var out, errOut syncbuf.Buffer
	cfg := &Config{Clusters: []Cluster{{Name: "east", Client: fake.NewClientset(appPod("shop-1", "app")), Namespaces: []string{"ns"}}},
		Format: Format{Output: OutputText, Color: true}, Follow: true, Tail: -1, Out: &out, ErrOut: &errOut, OpenStream: k.open}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	waitFor(t, "the line", func() bool { return strings.Contains(out.String(), "line 0") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := "\x1b[32m+\x1b[0m " + colour + "shop-1/app\x1b[0m\n"; errOut.String() != want {
		t.Errorf("follower's stderr %q, want %q", errOut.String(), want)
	}
}
