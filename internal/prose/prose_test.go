package prose

import "testing"

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
