package deploy

import "testing"

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
