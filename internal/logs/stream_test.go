package logs

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func stamp(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }

// collect consumes r from cur and returns the messages emitted.
func collect(t *testing.T, r io.Reader, cur *Cursor) ([]string, error) {
	t.Helper()
	var got []string
	err := Consume(r, cur, func(ts time.Time, st, msg []byte) error {
		got = append(got, string(msg))
		return nil
	}, nil)
	return got, err
}

func TestConsume(t *testing.T) {
	ms := time.Millisecond
	stream := stamp(0) + " a\n" + stamp(ms) + " b\n" + stamp(ms) + " b\n" + stamp(2*ms) + " c\n"
	tests := []struct {
		name    string
		in      string
		cur     Cursor
		want    []string
		wantCur Cursor
	}{
		{"fresh cursor: every line", stream, Cursor{}, []string{"a", "b", "b", "c"}, Cursor{Last: t0.Add(2 * ms), From: t0, Count: 4}},
		{"resume after a", stream, Cursor{Last: t0, From: t0, Count: 1}, []string{"b", "b", "c"}, Cursor{Last: t0.Add(2 * ms), From: t0, Count: 4}},
		{"resume after the first b: the second b is new", stream, Cursor{Last: t0.Add(ms), From: t0, Count: 2}, []string{"b", "c"}, Cursor{Last: t0.Add(2 * ms), From: t0, Count: 4}},
		{"resume after both b", stream, Cursor{Last: t0.Add(ms), From: t0, Count: 3}, []string{"c"}, Cursor{Last: t0.Add(2 * ms), From: t0, Count: 4}},
		{"resume at the end: nothing new", stream, Cursor{Last: t0.Add(2 * ms), From: t0, Count: 4}, nil, Cursor{Last: t0.Add(2 * ms), From: t0, Count: 4}},
		{"a new second: counted from its start", stamp(0) + " a\n" + stamp(1500*ms) + " b\n", Cursor{}, []string{"a", "b"}, Cursor{Last: t0.Add(1500 * ms), From: t0.Add(time.Second), Count: 1}},
		{"out of order: a line stamped before the first one is not counted", stamp(300*ms) + " x\n" + stamp(100*ms) + " y\n" + stamp(1200*ms) + " z\n" + stamp(1100*ms) + " w\n",
			Cursor{}, []string{"x", "y", "z", "w"}, Cursor{Last: t0.Add(1200 * ms), From: t0.Add(time.Second), Count: 2}},
		{"out of order: resume after z replays z and w, w is new", stamp(1200*ms) + " z\n" + stamp(1100*ms) + " w\n",
			Cursor{Last: t0.Add(1200 * ms), From: t0.Add(time.Second), Count: 1}, []string{"w"}, Cursor{Last: t0.Add(1200 * ms), From: t0.Add(time.Second), Count: 2}},
		{"first second, no time bound (--tail): counted from its start", stamp(300*ms) + " x\n" + stamp(100*ms) + " y\n",
			Cursor{}, []string{"x", "y"}, Cursor{Last: t0.Add(300 * ms), From: t0, Count: 2}},
		{"first second, --since: counted from the first line's stamp", stamp(300*ms) + " x\n" + stamp(100*ms) + " y\n",
			Cursor{Bounded: true}, []string{"x", "y"}, Cursor{Last: t0.Add(300 * ms), From: t0.Add(300 * ms), Count: 1}},
		{"first second, resume: lines before the first one written are dropped", stamp(700*ms) + " a\n" + stamp(500*ms) + " b\n" + stamp(800*ms) + " c\n",
			Cursor{Last: t0.Add(500 * ms), From: t0, Count: 1, first: idOf([]byte(stamp(500*ms)), []byte("b"))}, []string{"c"},
			Cursor{Last: t0.Add(800 * ms), From: t0, Count: 2}},
		{"first second, resume: its first line gone (rotated), a later second ends the wait", stamp(100*ms) + " q\n" + stamp(1100*ms) + " r\n",
			Cursor{Last: t0.Add(300 * ms), From: t0, Count: 1, first: idOf([]byte(stamp(300*ms)), []byte("x"))}, []string{"r"},
			Cursor{Last: t0.Add(1100 * ms), From: t0.Add(time.Second), Count: 1}},
		{"trailing fragment is not emitted", stamp(0) + " a\n" + stamp(ms) + " half", Cursor{}, []string{"a"}, Cursor{Last: t0, From: t0, Count: 1}},
		{"no timestamp: emitted, cursor kept", "plain line\n", Cursor{}, []string{"plain line"}, Cursor{}},
		{"empty message", stamp(0) + " \n" + stamp(ms) + "\n", Cursor{}, []string{"", ""}, Cursor{Last: t0.Add(ms), From: t0, Count: 2}},
		{"message with spaces", stamp(0) + " GET /x 200 1ms\n", Cursor{}, []string{"GET /x 200 1ms"}, Cursor{Last: t0, From: t0, Count: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := tt.cur
			got, err := collect(t, strings.NewReader(tt.in), &cur)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("emitted %q, want %q", got, tt.want)
			}
			if !cur.Last.Equal(tt.wantCur.Last) || !cur.From.Equal(tt.wantCur.From) || cur.Count != tt.wantCur.Count {
				t.Errorf("cursor = %+v, want %+v", cur, tt.wantCur)
			}
		})
	}
}

func TestConsumeLongLineAndOneByteReads(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	in := stamp(0) + " " + long + "\n" + stamp(1) + " short\n"
	var cur Cursor
	got, err := collect(t, iotest.HalfReader(strings.NewReader(in)), &cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != long || got[1] != "short" {
		t.Fatalf("got %d lines, first %d bytes", len(got), len(got[0]))
	}
	got, err = collect(t, iotest.OneByteReader(strings.NewReader(stamp(0)+" a\n")), &Cursor{})
	if err != nil || !slices.Equal(got, []string{"a"}) {
		t.Fatalf("one-byte reads: %q, %v", got, err)
	}
}

// TestConsumeCutLineMarked: a line over maxLine is cut, and says so with
// how many bytes were dropped.
func TestConsumeCutLineMarked(t *testing.T) {
	for _, size := range []int{maxLine - 100, 3 << 20} {
		line := stamp(0) + " " + strings.Repeat("x", size)
		got, err := collect(t, strings.NewReader(line+"\n"+stamp(1)+" short\n"), &Cursor{})
		if err != nil {
			t.Fatal(err)
		}
		dropped := len(line) - maxLine
		switch {
		case len(got) != 2 || got[1] != "short":
			t.Fatalf("size %d: %d lines", size, len(got))
		case dropped <= 0 && got[0] != line[len(stamp(0))+1:]:
			t.Errorf("size %d: a line under the cap changed", size)
		case dropped > 0 && !strings.HasSuffix(got[0], fmt.Sprintf("x [zz: line cut, %d more bytes dropped]", dropped)):
			t.Errorf("size %d: cut line ends %q", size, got[0][len(got[0])-60:])
		}
	}
}

func TestConsumeReturnsErrors(t *testing.T) {
	broken := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader(stamp(0)+" a\n"+stamp(1)+" b"), iotest.ErrReader(broken))
	var cur Cursor
	got, err := collect(t, r, &cur)
	if !errors.Is(err, broken) || !slices.Equal(got, []string{"a"}) {
		t.Fatalf("got %q, %v; want [a], %v", got, err, broken)
	}
	stop := errors.New("disk full")
	err = Consume(strings.NewReader(stamp(0)+" a\n"), &Cursor{}, func(time.Time, []byte, []byte) error { return stop }, nil)
	if !errors.Is(err, stop) {
		t.Fatalf("emit error: %v", err)
	}
}

// kubeletLog serves a CRI log the way the kubelet does for sinceTime: lines
// stamped at or after the time, which the API has cut to whole seconds.
func kubeletLog(lines []string, stamps []time.Time, since time.Time) string {
	since = since.Truncate(time.Second)
	var b strings.Builder
	for i, l := range lines {
		if !stamps[i].Before(since) {
			b.WriteString(stamps[i].Format(time.RFC3339Nano) + " " + l + "\n")
		}
	}
	return b.String()
}

// TestResumeNoLossNoDuplicate breaks the stream after every byte offset and
// reopens it from the cursor, as the follower does: the lines written are
// exactly the log's lines, in order, whatever the break point. One log has
// repeated lines at one timestamp and several lines in one second; the other
// has stamps out of file order, as containerd writes them (each of stdout
// and stderr is stamped in its own goroutine before the shared write), so a
// line can follow one stamped after it. start is the first line the first
// stream sends (--tail): the lines before it were not asked for, and the
// replay of its second must not take them for lines already written.
func TestResumeNoLossNoDuplicate(t *testing.T) {
	ms := time.Millisecond
	inOrder := func(i int) time.Duration { return time.Duration(i/3) * 300 * ms }
	for _, tc := range []struct {
		name  string
		stamp func(i int) time.Duration // line i's stamp after t0
		n     int                       // lines in the log; 30 if 0
		start int
		// since, when set, is the first request's time bound (after t0):
		// the first stream holds the lines stamped from it on, and the
		// cursor is Bounded as logOptions makes it for such a request.
		since *corev1.PodLogOptions
	}{
		{name: "in order, three lines a stamp", stamp: inOrder},
		{name: "out of order within a second", stamp: func(i int) time.Duration {
			// Every third line is stamped before the two it follows (as
			// the audit's .1 .3 .2 .4), staying in its second.
			d := time.Duration(i)*100*ms + 10*ms
			if i%3 == 2 && d%time.Second >= 150*ms {
				d -= 150 * ms
			}
			return d
		}},
		{name: "out of order, equal stamps too", stamp: func(i int) time.Duration {
			d := inOrder(i) + 50*ms
			if i%4 == 3 {
				d -= 20 * ms
			}
			return d
		}},
		{name: "--tail from a line stamped before the one above it (review 15: A .7, B .5, C .8, D .9)", n: 4, start: 1,
			stamp: func(i int) time.Duration { return []time.Duration{700 * ms, 500 * ms, 800 * ms, 900 * ms}[i] }},
		{name: "--tail, out of order within a second", start: 4, stamp: func(i int) time.Duration {
			d := time.Duration(i)*100*ms + 10*ms
			if i%3 == 2 && d%time.Second >= 150*ms {
				d -= 150 * ms
			}
			return d
		}},
		// A whole-second bound (--since-time) leaves out no line of the
		// first line's second: a line after the first one stamped before
		// it was asked for, and is not lost at a break before it (the
		// cursor counted from the first line's stamp, as under --since).
		{name: "--since-time, a line after the first stamped before it", n: 5, since: &corev1.PodLogOptions{SinceTime: &metav1.Time{Time: t0.Add(time.Second)}},
			stamp: func(i int) time.Duration {
				return []time.Duration{500 * ms, 1600 * ms, 1500 * ms, 1700 * ms, 2100 * ms}[i]
			}},
		{name: "--since-time, out of order within a second", since: &corev1.PodLogOptions{SinceTime: &metav1.Time{Time: t0.Add(time.Second)}}, stamp: func(i int) time.Duration {
			d := time.Duration(i)*100*ms + 10*ms
			if i%3 == 2 && d%time.Second >= 150*ms {
				d -= 150 * ms
			}
			return d
		}},
		// --since inside a second: the lines it leaves out may follow the
		// first line written (the 0.26 here), and are not taken for lines
		// written.
		{name: "--since inside a second, out of order", since: &corev1.PodLogOptions{SinceSeconds: ptr.To[int64](1)}, stamp: func(i int) time.Duration {
			return []time.Duration{100 * ms, 310 * ms, 260 * ms, 410 * ms, 360 * ms, 700 * ms, 1200 * ms, 1100 * ms, 1300 * ms}[i]
		}, n: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines []string
			var stamps []time.Time
			for i := range cmp.Or(tc.n, 30) {
				lines = append(lines, fmt.Sprintf("line %d", i))
				stamps = append(stamps, t0.Add(tc.stamp(i)))
			}
			var bound time.Time // the first request's, to the nanosecond
			switch {
			case tc.since == nil:
			case tc.since.SinceTime != nil:
				bound = tc.since.SinceTime.Time
			default:
				bound = t0.Add(300 * ms) // the kubelet's clock minus --since
			}
			var firstLines []string
			var firstStamps []time.Time
			for i := tc.start; i < len(lines); i++ {
				if !stamps[i].Before(bound) {
					firstLines, firstStamps = append(firstLines, lines[i]), append(firstStamps, stamps[i])
				}
			}
			full := kubeletLog(firstLines, firstStamps, time.Time{})
			want := firstLines
			for cut := 0; cut <= len(full); cut++ {
				cur := Cursor{Bounded: tc.since != nil && midSecondBound(tc.since)}
				first, err := collect(t, io.MultiReader(strings.NewReader(full[:cut]), iotest.ErrReader(io.ErrUnexpectedEOF)), &cur)
				if err == nil {
					t.Fatalf("cut %d: no error from a broken stream", cut)
				}
				replay := full // nothing written: the stream is asked again as at first
				if cur.Seen() {
					replay = kubeletLog(lines, stamps, cur.Last)
				}
				rest, err := collect(t, strings.NewReader(replay), &cur)
				if err != nil {
					t.Fatal(err)
				}
				if got := append(first, rest...); !slices.Equal(got, want) {
					t.Fatalf("cut at byte %d: got %d lines %q, want %d", cut, len(got), got, len(want))
				}
			}
		})
	}
}

// chunks returns one chunk per Read, as a network stream delivers frames.
type chunks []string

func (c *chunks) Read(p []byte) (int, error) {
	if len(*c) == 0 {
		return 0, io.EOF
	}
	n := copy(p, (*c)[0])
	(*c)[0] = (*c)[0][n:]
	if (*c)[0] == "" {
		*c = (*c)[1:]
	}
	return n, nil
}

// TestConsumeIdle: idle runs once everything received is emitted, before each
// read that may wait, so a batching caller writes every burst at once.
func TestConsumeIdle(t *testing.T) {
	r := &chunks{stamp(0) + " a\n" + stamp(1) + " b\n", stamp(2) + " c\n"}
	var events []string
	err := Consume(r, &Cursor{}, func(_ time.Time, _, msg []byte) error {
		events = append(events, string(msg))
		return nil
	}, func() error {
		events = append(events, "idle")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"idle", "a", "b", "idle", "c", "idle"}; !slices.Equal(events, want) {
		t.Fatalf("events %q, want %q", events, want)
	}
}

// TestParseStamp: the allocation-free parser agrees with
// time.Parse(time.RFC3339Nano) on every input, valid or not.
func TestParseStamp(t *testing.T) {
	inputs := []string{
		"2026-11-23T14:25:00Z", "2026-11-23T14:25:00.1Z", "2026-11-23T14:25:00.123456789Z",
		"2026-11-23T14:25:00.000000000Z", "2026-11-23T14:25:00.12Z", "1999-12-31T23:59:59.999999999Z",
		"2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-00-10T00:00:00Z",
		"2026-13-10T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T23:60:00Z",
		"2026-11-23T23:59:60Z", "2026-11-23T14:25:00.Z", "2026-11-23T14:25:00.1234567891Z",
		"2026-11-23T14:25:00+01:00", "2026-11-23T14:25:00.5-07:30", "2026-11-23T14:25:00", "2026-11-23t14:25:00Z",
		"2026-11-23T14:25:00z", "2026-1a-23T14:25:00Z", "2026-11-23T14:25:00,5Z", "202-11-23T14:25:00Z",
		"2026-11-23T14:25:0aZ", "2026-11-23T14:25:00.1a3Z", "", "GET", "not-a-time-at-allZ",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.9Z", "2026-11-23 14:25:00Z", "2026-11-23T14:25:00.+1Z",
	}
	for _, in := range inputs {
		want, err := time.Parse(time.RFC3339Nano, in)
		got, ok := parseStamp([]byte(in))
		if ok != (err == nil) || !got.Equal(want) || got.String() != want.String() {
			t.Errorf("parseStamp(%q) = %v, %v; time.Parse = %v, %v", in, got, ok, want, err)
		}
	}
	stamp := []byte("2026-11-23T14:25:00.123456789Z")
	if n := testing.AllocsPerRun(100, func() { parseStamp(stamp) }); n != 0 {
		t.Errorf("parseStamp allocates %.0f times per kubelet timestamp, want 0", n)
	}
}
