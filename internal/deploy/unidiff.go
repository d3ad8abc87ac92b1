package deploy

import (
	"fmt"
	"strings"
)

// op is one line of an edit script: ' ' kept, '-' removed, '+' added.
type op struct {
	kind byte
	line string
}

// editScript turns a into b with the fewest removed and added lines (longest
// common subsequence; objects are at most a few hundred lines).
func editScript(a, b []string) []op {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			ops = append(ops, op{' ', a[i]})
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', a[i]})
			i++
		default:
			ops = append(ops, op{'+', b[j]})
			j++
		}
	}
	return ops
}

// unifiedDiff is a/b as "diff -u" prints it, with context lines around each
// change, or "" when they are equal.
func unifiedDiff(aName, bName, a, b string, context int) string {
	ops := editScript(splitLines(a), splitLines(b))
	var out strings.Builder
	aLine, bLine := 1, 1 // line numbers at ops[k]
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			aLine, bLine, k = aLine+1, bLine+1, k+1
			continue
		}
		// A hunk: back up context lines, then run until context+1 equal
		// lines in a row (or the end) follow the last change.
		start := max(0, k-context)
		back := k - start
		end, equal := k, 0
		for end < len(ops) && equal <= 2*context {
			if ops[end].kind == ' ' {
				equal++
			} else {
				equal = 0
			}
			end++
		}
		if equal > context {
			end -= equal - context
		}
		as, bs := aLine-back, bLine-back
		var ac, bc int
		var body strings.Builder
		for _, o := range ops[start:end] {
			body.WriteByte(o.kind)
			body.WriteString(o.line)
			body.WriteByte('\n')
			if o.kind != '+' {
				ac++
			}
			if o.kind != '-' {
				bc++
			}
		}
		if out.Len() == 0 {
			fmt.Fprintf(&out, "--- %s\n+++ %s\n", aName, bName)
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n%s", as, ac, bs, bc, body.String())
		aLine, bLine = as+ac, bs+bc
		k = end
	}
	return out.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
