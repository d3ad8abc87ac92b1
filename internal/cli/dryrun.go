package cli

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/zzcloud/zz/internal/prose"
)

// Dry-run strategies, as kubectl spells them.
const (
	dryRunNone   = "none"
	dryRunClient = "client"
	dryRunServer = "server"
)

// dryRunFlag is a command's --dry-run as kubectl writes it: "none",
// "client" or "server"; bare --dry-run (and "true") is the command's own
// dry run, "false" none. One parser for every command (three had three
// meanings of a bare --dry-run and of "true": a code review).
type dryRunFlag struct {
	value string
	// bare is what bare --dry-run means here.
	bare string
	// instead says, for a strategy this command has not, what does it.
	instead map[string]string
	set     func(string)
}

// addDryRunFlag registers --dry-run on fs: set is called with the strategy
// given; instead names the strategies the command has not.
func addDryRunFlag(fs *pflag.FlagSet, usage, bare string, instead map[string]string, set func(string)) {
	f := &dryRunFlag{value: dryRunNone, bare: bare, instead: instead, set: set}
	fs.VarPF(f, "dry-run", "", fmt.Sprintf(`%s (bare --dry-run is %q; "none" runs it)`, usage, bare)).NoOptDefVal = bare
}

// addDryRun is --dry-run of a command whose dry run is client-side only:
// on is whether it is asked; server names what does a server-side one.
func addDryRun(fs *pflag.FlagSet, on *bool, usage, server string) {
	addDryRunFlag(fs, usage, dryRunClient, map[string]string{dryRunServer: server}, func(s string) { *on = s == dryRunClient })
}

func (f *dryRunFlag) String() string { return f.value }

func (f *dryRunFlag) Set(s string) error {
	if b, err := strconv.ParseBool(s); err == nil {
		s = map[bool]string{true: f.bare, false: dryRunNone}[b]
	}
	if !slices.Contains([]string{dryRunNone, dryRunClient, dryRunServer}, s) {
		// Only the values this command takes: deploy listed "server",
		// then refused it (an app-developer audit).
		var valid []string
		for _, v := range []string{dryRunNone, dryRunClient, dryRunServer} {
			if _, no := f.instead[v]; !no {
				valid = append(valid, strconv.Quote(v))
			}
		}
		return fmt.Errorf(`%q: use %s (bare --dry-run is %q)`, s, prose.Or(valid), f.bare)
	}
	if why, ok := f.instead[s]; ok {
		return fmt.Errorf(`%q is not this command's dry run: %s`, s, why)
	}
	f.value = s
	f.set(s)
	return nil
}

func (f *dryRunFlag) Type() string { return "string" }

// diffRun is --diff and its alias --dry-run, of the commands whose dry run
// is their diff (scale, restart, promote, abort). The two are kept apart so
// that neither flag unsets the other: --diff --dry-run=none (a pipeline's
// --dry-run=$DRY beside --diff) ran the real command when the alias
// overwrote --diff (a code review).
type diffRun struct{ diff, dryRun bool }

// add registers --diff (usage) and --dry-run on cmd; a bad --dry-run
// exits 2, as a bad --diff: it is the same run.
func (d *diffRun) add(cmd *cobra.Command, usage, dryRunUsage string) {
	cmd.Flags().BoolVar(&d.diff, "diff", false, usage)
	addDryRunFlag(cmd.Flags(), dryRunUsage, dryRunServer, nil, func(s string) { d.dryRun = s != dryRunNone })
	_ = cmd.Flags().SetAnnotation("dry-run", dryRunDiffs, []string{"true"})
}

// on says whether either asks for the diff.
func (d diffRun) on() bool { return d.diff || d.dryRun }
