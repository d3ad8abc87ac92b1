package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/pflag"
)

// dryRunFlag is a command's --dry-run as kubectl writes it: "client" (or
// bare --dry-run, or true) does what the command's dry run does, "none"
// (or false) runs it; "server" is refused with what does that here.
type dryRunFlag struct {
	on     *bool
	server string // why "server" is not this command's, and what to use
}

// addDryRun registers --dry-run on fs for on.
func addDryRun(fs *pflag.FlagSet, on *bool, usage, server string) {
	fs.VarPF(dryRunFlag{on, server}, "dry-run", "", usage+` ("client"; "none" runs it; bare --dry-run is "client", as kubectl's)`).NoOptDefVal = "client"
}

func (f dryRunFlag) String() string {
	if f.on != nil && *f.on {
		return "client"
	}
	return "none"
}

func (f dryRunFlag) Set(s string) error {
	switch s {
	case "client":
		*f.on = true
	case "none":
		*f.on = false
	case "server":
		return fmt.Errorf(`"server" is not this command's dry run: %s`, f.server)
	default:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf(`%q: use "client" (or bare --dry-run) or "none"`, s)
		}
		*f.on = v
	}
	return nil
}

func (f dryRunFlag) Type() string { return "string" }
