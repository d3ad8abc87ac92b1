// Package prose writes lists into the sentences kubectl zz says: a long
// list cut to its first few and a count, so one line stays readable.
package prose

import (
	"strconv"
	"strings"
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
