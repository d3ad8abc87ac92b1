package prose

import "testing"

// TestEscape: every control character is escaped, so no value a node or a
// tenant writes breaks a table's rows and columns or drives the terminal
// (audit 14: a card model with a newline and tabs printed a forged row
// about another node in kubectl zz gpu); a line keeps its newlines only.
func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, cell, terminal string }{
		{"NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"},
		{"été ≤8Gi", "été ≤8Gi", "été ≤8Gi"},
		{"Tesla T4\t15Gi\ngpu-a100-1\t8", `Tesla T4\t15Gi\ngpu-a100-1\t8`, "Tesla T4\\t15Gi\ngpu-a100-1\\t8"},
		{"\x1b]0;pwned\x07\x1b[2J", `^[]0;pwned\a^[[2J`, `^[]0;pwned\a^[[2J`},
		{"/x\x1b]52;c;ZWNobyBo\x07", `/x^[]52;c;ZWNobyBo\a`, `/x^[]52;c;ZWNobyBo\a`},
		{"a\rb", `a\rb`, `a\rb`},
		{"a\x00b\x7fc", `a\x00b\x7fc`, `a\x00b\x7fc`},
		{"a\u009b2J", `a\u009b2J`, `a\u009b2J`},
		{"abc\u202edef", `abc\u202edef`, `abc\u202edef`},
		{"line 1\nline 2\n", `line 1\nline 2\n`, "line 1\nline 2\n"},
	} {
		if got := Cell(tc.in); got != tc.cell {
			t.Errorf("Cell(%q) = %q, want %q", tc.in, got, tc.cell)
		}
		if got := Terminal(tc.in); got != tc.terminal {
			t.Errorf("Terminal(%q) = %q, want %q", tc.in, got, tc.terminal)
		}
	}
}
