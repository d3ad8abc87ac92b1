package deploy

import (
	"fmt"
	"slices"
	"strings"
)

// op is one line of an edit script: ' ' kept, '-' removed, '+' added.
type op struct {
	kind byte
	line string
}

// editScript turns a into b with the fewest removed and added lines:
// Myers' O(ND) algorithm with the linear-space middle-snake split (as in
// diff-match-patch's bisect), so memory stays O(len(a)+len(b)) however
// large the files; lines are compared as interned ints.
func editScript(a, b []string) []op {
	ids := map[string]int{}
	intern := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	m := &myers{a: a, b: b}
	m.diff(intern(a), intern(b), 0, 0)
	removedFirst(m.ops)
	return m.ops
}

// removedFirst puts, in every run of changed lines, the removed ones before
// the added ones, as diff -u prints a change: the split can leave a run
// "+new, -old".
func removedFirst(ops []op) {
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		j := i
		for j < len(ops) && ops[j].kind != ' ' {
			j++
		}
		slices.SortStableFunc(ops[i:j], func(x, y op) int { return int(y.kind) - int(x.kind) }) // '-' sorts after '+' in ASCII
		i = j
	}
}

// myers appends the edit script of a and b (interned) to ops; aOff and
// bOff place a sub-problem in the original lines.
type myers struct {
	a, b []string
	ops  []op
}

func (m *myers) diff(a, b []int, aOff, bOff int) {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	for i := range p {
		m.ops = append(m.ops, op{' ', m.a[aOff+i]})
	}
	a, b, aOff, bOff = a[p:], b[p:], aOff+p, bOff+p
	s := 0
	for s < len(a) && s < len(b) && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	a, b = a[:len(a)-s], b[:len(b)-s]
	switch {
	case len(a) == 0:
		for j := range b {
			m.ops = append(m.ops, op{'+', m.b[bOff+j]})
		}
	case len(b) == 0:
		for i := range a {
			m.ops = append(m.ops, op{'-', m.a[aOff+i]})
		}
	default:
		x, y, ok := middle(a, b)
		if ok {
			m.diff(a[:x], b[:y], aOff, bOff)
			m.diff(a[x:], b[y:], aOff+x, bOff+y)
		} else {
			for i := range a {
				m.ops = append(m.ops, op{'-', m.a[aOff+i]})
			}
			for j := range b {
				m.ops = append(m.ops, op{'+', m.b[bOff+j]})
			}
		}
	}
	for i := len(a); i < len(a)+s; i++ {
		m.ops = append(m.ops, op{' ', m.a[aOff+i]})
	}
}

// middle finds where a shortest edit path of a and b (both non-empty)
// crosses its middle, walking from both ends at once: a split point (x, y)
// whose halves diff independently. ok is false when a and b share nothing.
func middle(a, b []int) (x, y int, ok bool) {
	n, mm := len(a), len(b)
	maxD := (n + mm + 1) / 2
	off, size := maxD, 2*maxD+2
	v1, v2 := make([]int, size), make([]int, size)
	for i := range v1 {
		v1[i], v2[i] = -1, -1
	}
	v1[off+1], v2[off+1] = 0, 0
	delta := n - mm
	front := delta%2 != 0 // the forward path meets the reverse one
	var k1start, k1end, k2start, k2end int
	for d := range maxD {
		for k1 := -d + k1start; k1 <= d-k1end; k1 += 2 {
			i := off + k1
			var x1 int
			if k1 == -d || (k1 != d && v1[i-1] < v1[i+1]) {
				x1 = v1[i+1]
			} else {
				x1 = v1[i-1] + 1
			}
			y1 := x1 - k1
			for x1 < n && y1 < mm && a[x1] == b[y1] {
				x1, y1 = x1+1, y1+1
			}
			v1[i] = x1
			switch {
			case x1 > n:
				k1end += 2
			case y1 > mm:
				k1start += 2
			case front:
				if j := off + delta - k1; j >= 0 && j < size && v2[j] != -1 && x1 >= n-v2[j] {
					return x1, y1, true
				}
			}
		}
		for k2 := -d + k2start; k2 <= d-k2end; k2 += 2 {
			i := off + k2
			var x2 int
			if k2 == -d || (k2 != d && v2[i-1] < v2[i+1]) {
				x2 = v2[i+1]
			} else {
				x2 = v2[i-1] + 1
			}
			y2 := x2 - k2
			for x2 < n && y2 < mm && a[n-x2-1] == b[mm-y2-1] {
				x2, y2 = x2+1, y2+1
			}
			v2[i] = x2
			switch {
			case x2 > n:
				k2end += 2
			case y2 > mm:
				k2start += 2
			case !front:
				if j := off + delta - k2; j >= 0 && j < size && v1[j] != -1 {
					x1 := v1[j]
					if y1 := off + x1 - j; x1 >= n-x2 {
						return x1, y1, true
					}
				}
			}
		}
	}
	return 0, 0, false
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
