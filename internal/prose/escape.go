package prose

import (
	"strconv"
	"strings"
	"unicode"
)

// Cell is s fit for one cell of a table: kubectl get's
// printers.EscapeTerminal (ESC as ^[, CR as \r) for every control
// character: the rest of C0 (a newline, a tab, BEL ...), DEL and C1 print
// as Go escapes (\n, \t, \a, \x7f, \u009b), and so do the bidirectional
// controls that reorder what follows (U+202E). A root-on-one-node audit
// printed a forged row about another node in kubectl zz gpu with a newline
// and tabs in a card's model, which EscapeTerminal let through.
func Cell(s string) string { return escape(s, false) }

// Terminal is s escaped as Cell but for its newlines: for the lines
// kubectl zz prints outside tables (warnings, notes, status's
// explanations, errors), built with their own line breaks around what a
// namespace's objects say (a mount path, an image, a termination message).
// Every such line goes through it where it is written: a hostile-tenant
// audit cleared an admin's screen and retitled the terminal through init
// --from's warnings, and EscapeTerminal left BEL and C1 (an 8-bit CSI) in
// status's.
func Terminal(s string) string { return escape(s, true) }

func escape(s string, lines bool) string {
	must := func(r rune) bool {
		return (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) && !(lines && r == '\n')
	}
	if !strings.ContainsFunc(s, must) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\x1b':
			b.WriteString("^[")
		case must(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
