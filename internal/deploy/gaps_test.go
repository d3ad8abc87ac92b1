package deploy

import (
	"strings"
	"testing"
	"time"
)

// TestGaps: the numbers no record holds are said as runs, a run of three
// or more as a range; a record of a forged or mistyped number (2^40) next to
// a real one costs nothing (Gaps listed every number between: history never
// returned), and an unreadable record whose number could not be read (0)
// bounds no gap (review 36 #3).
func TestGaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		revs []*Revision
		want string // in the note; "" for no note
	}{
		{"none", []*Revision{{Number: 1}, {Number: 2}}, ""},
		{"one", []*Revision{{Number: 1}, {Number: 3}}, "no record of revision 2:"},
		{"runs", []*Revision{{Number: 1}, {Number: 3}, {Number: 6}, {Number: 20}}, "no record of revisions 2, 4, 5 and 7 to 19:"},
		{"forged number", []*Revision{{Number: 3}, {Number: maxRevision}}, "no record of revisions 4 to 1099511627775:"},
		{"unreadable, no number", []*Revision{{Number: 0, Unreadable: "bad"}, {Number: 5}, {Number: 6}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan string, 1)
			go func() { done <- Gaps("shop", tc.revs) }()
			var got string
			select {
			case got = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Gaps did not return")
			}
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("Gaps = %q; want %q", got, tc.want)
			}
		})
	}
}
