package cli

import "testing"

// TestEscapeCell: every control character of a cell is escaped, so no
// value a node or a tenant writes breaks a table's rows and columns or
// drives the terminal (audit 14: a card model with a newline and tabs
// printed a forged row about another node in kubectl zz gpu).
func TestEscapeCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"},
		{"été ≤8Gi", "été ≤8Gi"},
		{"Tesla T4\t15Gi\ngpu-a100-1\t8", `Tesla T4\t15Gi\ngpu-a100-1\t8`},
		{"\x1b]0;pwned\x07\x1b[2J", `^[]0;pwned\a^[[2J`},
		{"a\rb", `a\rb`},
		{"a\x00b\x7fc", `a\x00b\x7fc`},
		{"a\u009b2J", `a\u009b2J`},
		{"abc\u202edef", `abc\u202edef`},
	} {
		if got := escapeCell(tc.in); got != tc.want {
			t.Errorf("escapeCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
