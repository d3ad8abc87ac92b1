package prose

import (
	"strings"
	"testing"
	"time"
)

func TestSome(t *testing.T) {
	for _, tc := range []struct {
		items []string
		most  int
		want  string
	}{
		{nil, 3, ""},
		{[]string{"a"}, 3, "a"},
		{[]string{"a", "b", "c"}, 3, "a, b, c"},
		{[]string{"a", "b", "c", "d"}, 3, "a, b, c, d"},
		{[]string{"a", "b", "c", "d", "e"}, 3, "a, b, c and 2 more"},
		{[]string{"a", "b", "c"}, 0, "a and 2 more"},
		{[]string{"a", "b"}, -1, "a, b"},
		{[]string{"a", "b", "c", "d", "e"}, 2, "a, b and 3 more"},
	} {
		if got := Some(tc.items, tc.most); got != tc.want {
			t.Errorf("Some(%q, %d) = %q, want %q", tc.items, tc.most, got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Minute, "45m"},
		{2*time.Hour + 5*time.Minute, "2h5m"},
		{time.Hour, "1h"},
		{90 * time.Second, "1m30s"},
		{30 * time.Second, "30s"},
		{time.Hour + 30*time.Second, "1h0m30s"},
		{200 * time.Millisecond, "0s"},
	} {
		if got := Duration(tc.d); got != tc.want {
			t.Errorf("Duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestAnd(t *testing.T) {
	for _, tt := range []struct {
		items []string
		want  string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a and b"},
		{[]string{"a", "b", "c"}, "a, b and c"},
	} {
		if got := And(tt.items); got != tt.want {
			t.Errorf("And(%q) = %q, want %q", tt.items, got, tt.want)
		}
		if got, want := Or(tt.items), strings.ReplaceAll(tt.want, " and ", " or "); got != want {
			t.Errorf("Or(%q) = %q, want %q", tt.items, got, want)
		}
	}
}
