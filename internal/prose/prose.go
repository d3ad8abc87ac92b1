// Package prose writes lists and durations into the sentences kubectl zz
// says: a long list cut to its first few and a count, so one line stays
// readable; a duration as a flag's value is written.
package prose

import (
	"strconv"
	"strings"
	"time"
)

// Some is items joined with ", ", the first most of them (at least one)
// and " and N more" when two or more are left out ("a, b, c and 4 more"):
// "and 1 more" is no shorter than naming it.
func Some(items []string, most int) string {
	most = max(most, 1)
	if len(items) <= most+1 {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:most], ", ") + " and " + strconv.Itoa(len(items)-most) + " more"
}

// And is items as a sentence lists them: "a", "a and b", "a, b and c"
// ("" for none).
func And(items []string) string { return join(items, " and ") }

// Or is items as a sentence offers them: "a", "a or b", "a, b or c".
func Or(items []string) string { return join(items, " or ") }

func join(items []string, last string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + last + items[len(items)-1]
}

// Duration is d, to the second, as a --timeout is written, without its
// zero units: 45m, 2h5m, 1h, 1m30s (time.Duration's String says 45m0s).
func Duration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if h, ok := strings.CutSuffix(s, "h0m0s"); ok {
		return h + "h"
	}
	if m, ok := strings.CutSuffix(s, "m0s"); ok {
		return m + "m"
	}
	return s
}
