package appspec

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Bounds of spec.healthCommand: a check the kubelet runs every few
// seconds, named in status and deploy's diagnosis of a pod that fails it.
// A longer one belongs in a script in the image.
const (
	maxHealthCommandArgs  = 64
	maxHealthCommandBytes = 2048
)

// shells are the programs that read a command line themselves: with one of
// them first, shell syntax in the arguments is the script's.
var shells = []string{"sh", "bash", "ash", "dash", "zsh", "ksh", "busybox"}

// shellSyntax are arguments that mean something to a shell only: passed
// to any other program, they are one more argument, and the check fails
// (or passes) for a reason its author did not write.
var shellSyntax = []string{"|", "||", "&&", ";", "&", ">", ">>", "<", "2>&1", ">/dev/null", "2>/dev/null"}

// healthCommand checks spec.healthCommand, set (an empty list included):
// a program first, run without a shell, within the bounds, and no other
// health check beside it, which it would silently replace.
func (v *validator) healthCommand(s *Spec) {
	const field = "spec.healthCommand"
	hc := s.HealthCommand
	if s.HealthPath != "" {
		v.add("spec.healthPath", "is set beside spec.healthCommand, which replaces the HTTP check", "remove spec.healthPath, or spec.healthCommand to check by HTTP")
	}
	if s.HealthCheck != "" {
		v.add("spec.healthCheck", "is set beside spec.healthCommand, which replaces the check on the port", "remove spec.healthCheck, or spec.healthCommand to check on the port")
	}
	if len(hc) == 0 {
		v.add(field, "is empty", "name the program that checks the app and its arguments, e.g. [pg_isready, -U, app], or remove it")
		return
	}
	v.command(field, hc)
	prog := strings.TrimSpace(hc[0])
	if prog == "" {
		return
	}
	n := 0
	for _, a := range hc {
		n += len(a)
	}
	switch {
	case len(hc) > maxHealthCommandArgs || n > maxHealthCommandBytes:
		v.add(field, fmt.Sprintf("has %d arguments, %d bytes in all: more than %d or %d", len(hc), n, maxHealthCommandArgs, maxHealthCommandBytes),
			"put a longer check in a script in the image and run it, e.g. [/app/healthcheck]")
	case strings.ContainsAny(prog, " \t\n"):
		v.add(field+"[0]", fmt.Sprintf("%q is one program name with spaces in it: no shell splits it into words", hc[0]),
			fmt.Sprintf("write each word apart, e.g. %s, or %s for a shell", listOf(strings.Fields(prog)), listOf([]string{"sh", "-c", prog})))
	case slices.ContainsFunc(hc, func(a string) bool { return secretRef(s, a) != "" }):
		for i, a := range hc {
			if name := secretRef(s, a); name != "" {
				v.add(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("$(%s) is spec.secretEnv's, which the kubelet expands to nothing in a probe (it expands spec.env's values alone)", name),
					fmt.Sprintf(`let a shell read it: [sh, -c, "... \"$%s\" ..."]`, name))
				break
			}
		}
	case !slices.Contains(shells, path.Base(prog)):
		for i, a := range hc[1:] {
			if slices.Contains(shellSyntax, a) {
				v.add(fmt.Sprintf("%s[%d]", field, i+1), fmt.Sprintf("%q is shell syntax, but no shell runs the command: %s gets it as an argument", a, prog),
					fmt.Sprintf("run it in a shell: %s", listOf([]string{"sh", "-c", strings.Join(hc, " ")})))
				break
			}
		}
	}
}

// listOf writes args as a YAML flow list, quoting what YAML would not
// read back as the same string.
func listOf(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n:#,[]{}&*!|>'\"%@`") {
			out[i] = fmt.Sprintf("%q", a)
		}
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// secretRef is the first spec.secretEnv variable arg refers to as
// $(NAME), "" for none.
func secretRef(s *Spec, arg string) string {
	for _, ref := range EnvRefs(arg) {
		if _, ok := s.SecretEnv[ref]; ok {
			return ref
		}
	}
	return ""
}
