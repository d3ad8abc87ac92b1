// Package spelling finds the name a user meant: the fixes of refusals
// ("did you mean zz.io/gpu-mem?") for an app spec's fields and a pod's GPU
// names alike.
package spelling

// Distance is the edit distance of a and b, in bytes, a swap of two
// neighbours one edit (optimal string alignment: "prot" is one from
// "port", "gpu-modle" one from "gpu-model").
func Distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// Nearest is the name of known nearest to s, fewer than within edits
// away, the first of equals; "" when none is.
func Nearest(s string, known []string, within int) string {
	best := ""
	for _, k := range known {
		if d := Distance(s, k); d < within {
			best, within = k, d
		}
	}
	return best
}
