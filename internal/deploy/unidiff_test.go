package deploy

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{name: "equal", a: "x\ny\n", b: "x\ny\n", want: ""},
		{name: "both empty", want: ""},
		{name: "change in the middle", a: "1\n2\n3\n4\n5\n6\n7\n", b: "1\n2\n3\nfour\n5\n6\n7\n",
			want: "--- a\n+++ b\n@@ -2,5 +2,5 @@\n 2\n 3\n-4\n+four\n 5\n 6\n"},
		{name: "created", a: "", b: "x\ny\n", want: "--- a\n+++ b\n@@ -1,0 +1,2 @@\n+x\n+y\n"},
		{name: "deleted", a: "x\n", b: "", want: "--- a\n+++ b\n@@ -1,1 +1,0 @@\n-x\n"},
		{name: "two hunks", a: "a\n1\n2\n3\n4\n5\n6\nb\n", b: "A\n1\n2\n3\n4\n5\n6\nB\n",
			want: "--- a\n+++ b\n@@ -1,3 +1,3 @@\n-a\n+A\n 1\n 2\n@@ -6,3 +6,3 @@\n 5\n 6\n-b\n+B\n"},
		{name: "close changes share a hunk", a: "a\n1\n2\nb\n", b: "A\n1\n2\nB\n",
			want: "--- a\n+++ b\n@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n-b\n+B\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unifiedDiff("a", "b", tt.a, tt.b, 2); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// lcsLen is the longest common subsequence of a and b by the n×m table, the
// reference editScript must match.
func lcsLen(a, b []string) int {
	prev := make([]int, len(b)+1)
	for i := range a {
		cur := make([]int, len(b)+1)
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}

// TestEditScriptMinimal: on random inputs the script turns a into b and
// keeps as many lines as the longest common subsequence (it is minimal).
func TestEditScriptMinimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := func() []string {
		n := rng.IntN(30)
		out := make([]string, n)
		for i := range out {
			out[i] = string(rune('a' + rng.IntN(4)))
		}
		return out
	}
	for range 2000 {
		a, b := words(), words()
		var gotA, gotB []string
		kept := 0
		for _, o := range editScript(a, b) {
			if o.kind != '+' {
				gotA = append(gotA, o.line)
			}
			if o.kind != '-' {
				gotB = append(gotB, o.line)
			}
			if o.kind == ' ' {
				kept++
			}
		}
		if !slices.Equal(gotA, a) || !slices.Equal(gotB, b) {
			t.Fatalf("script of %v -> %v rebuilds %v -> %v", a, b, gotA, gotB)
		}
		if want := lcsLen(a, b); kept != want {
			t.Fatalf("script of %v -> %v keeps %d lines, the LCS has %d", a, b, kept, want)
		}
		// As diff -u: in a run of changes the removed lines come first.
		ops := editScript(a, b)
		for i := 1; i < len(ops); i++ {
			if ops[i-1].kind == '+' && ops[i].kind == '-' {
				t.Fatalf("script of %v -> %v adds before it removes: %v", a, b, ops)
			}
		}
	}
}

// TestDiffLargeFilesLinearMemory: two 10,000-line config files with a change
// every 100 lines diff in a few MB (an n×m table would need 800 MB).
func TestDiffLargeFilesLinearMemory(t *testing.T) {
	var a, b strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&a, "key%d=value%d\n", i, i)
		if i%100 == 0 {
			fmt.Fprintf(&b, "key%d=changed%d\n", i, i)
		} else {
			fmt.Fprintf(&b, "key%d=value%d\n", i, i)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := unifiedDiff("a", "b", a.String(), b.String(), 3)
	runtime.ReadMemStats(&after)
	if n := strings.Count(d, "\n+key"); n != 100 {
		t.Fatalf("%d added lines, want 100", n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("diff of two 10,000-line files allocated %d MB", alloc>>20)
	}
}
