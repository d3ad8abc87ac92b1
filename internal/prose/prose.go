// Package prose writes lists into the sentences kubectl zz says: a long
// list cut to its first few and a count, so one line stays readable.
package prose

import (
	"strconv"
	"strings"
)

// Some is items joined with ", ", the first most of them and " and N
// more" when there are more ("a, b, c and 4 more").
func Some(items []string, most int) string {
	if len(items) <= most {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:most], ", ") + " and " + strconv.Itoa(len(items)-most) + " more"
}
