package deploy

import (
	"regexp"
	"strings"

	"github.com/zzcloud/zz/internal/prose"
)

// Line shapes of a crash's log tail (FallbackToLogsOnError keeps the last
// 80 lines, at most 2 KiB, so the error is near the end and a banner near
// the start).
var (
	// goFatal starts a Go panic or runtime fatal error; the stack follows it.
	goFatal = regexp.MustCompile(`^(panic: |fatal error: )`)
	// goStack starts a goroutine's stack in a Go dump.
	goStack = regexp.MustCompile(`^goroutine \d+ \[`)
	// errorWord marks a line of an error's level: nginx [emerg], envoy
	// [critical], fluent-bit [error], logfmt level=error, "invalid configuration".
	errorWord = regexp.MustCompile(`(?i)\b(error|emerg|crit|critical|fatal|alert|invalid|failed|failure|exception)\b`)
	// logTime is a leading timestamp, which says nothing of why.
	logTime = regexp.MustCompile(`^\[?\d{4}[-/]\d{2}[-/]\d{2}[T ][\d:.,]+Z?\]?\s*`)
	// ansi is a terminal escape sequence: CSI (colours: ESC[1;91m), OSC
	// (a window title: ESC]0;...BEL) or a two-byte one. A coloured
	// "ESC[1;91merror" has no word boundary before "error" (m and e are
	// both word characters), so fluent-bit's coloured [error] was not picked.
	ansi = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])`)
)

// maxReasonRunes keeps a reason to one status line.
const maxReasonRunes = 160

// terminationMessage is the line of what a container left in its
// termination message (terminationMessagePath, or the log's tail with
// FallbackToLogsOnError) that says why it stopped, short enough for one
// status line. A tail starts with whatever the image printed first (nginx's
// entrypoint, fluent-bit's banner), so the first line is rarely the reason:
//   - a Go panic or fatal error: its "panic:" line (the stack follows);
//     a stack printed without one: the line before it;
//   - a Python traceback: the exception, the last unindented line after it;
//   - a Java trace: its last "Caused by:", the root cause;
//   - else the first line of an error's level (the cascade that follows
//     it, "backend failed", "exiting", is its consequence), with the
//     indented lines under it when it ends in ":" (oauth2-proxy's
//     "invalid configuration:" lists the missing settings below);
//   - else the last line.
//
// Terminal escape sequences are dropped first, and what control characters
// are left are escaped (prose.Cell: a CR as \r), so a container cannot
// rewrite the deployer's status line or retitle the terminal; the reason
// is then its own fixed point (TerminationReason).
func terminationMessage(m string) string {
	var lines []string
	for _, l := range strings.Split(ansi.ReplaceAllString(m, ""), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimRight(l, " \t\r"))
		}
	}
	if len(lines) == 0 {
		return ""
	}
	at := reasonLine(lines)
	reason := strings.TrimSpace(logTime.ReplaceAllString(strings.TrimSpace(lines[at]), ""))
	if strings.HasSuffix(reason, ":") {
		var below []string
		for _, l := range lines[at+1:] {
			if l == strings.TrimLeft(l, " \t") {
				break
			}
			below = append(below, strings.TrimSpace(l))
		}
		if len(below) > 0 {
			reason += " " + strings.Join(below, "; ")
		}
	}
	reason = prose.Cell(reason)
	if r := []rune(reason); len(r) > maxReasonRunes {
		reason = string(r[:maxReasonRunes]) + "…"
	}
	return reason
}

// TerminationReason is terminationMessage for readers that keep only the
// reason of a pod's termination message (the logs informer's slim pods):
// it is its own fixed point, so their PodProblem says what the full pod's
// does.
func TerminationReason(m string) string { return terminationMessage(m) }

// reasonLine is the index in lines (none empty) of the one that says why,
// by the rules of terminationMessage.
func reasonLine(lines []string) int {
	indented := func(l string) bool { return l != strings.TrimLeft(l, " \t") }
	for i, l := range lines {
		if goFatal.MatchString(l) {
			return i
		}
	}
	for i, l := range lines {
		if goStack.MatchString(l) && i > 0 {
			return i - 1
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "Traceback (most recent call last)") {
			for j := len(lines) - 1; j > i; j-- {
				if !indented(lines[j]) {
					return j
				}
			}
			return i
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "Caused by: ") {
			return i
		}
	}
	for i, l := range lines {
		if !indented(l) && errorWord.MatchString(l) {
			return i
		}
	}
	return len(lines) - 1
}
