package cli

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
)

// appTargets is what the commands about one deployed app share: its name and
// the clusters (--context a,b) and namespace kubectl's flags select.
type appTargets struct {
	App         string
	targets     []target
	configFlags *genericclioptions.ConfigFlags
}

// complete takes the app name from args[0] (cobra checked there is one) and
// connects to every target.
func (a *appTargets) complete(args []string) error {
	a.App = args[0]
	var err error
	a.targets, err = resolveTargets(a.configFlags, true)
	return err
}

// several reports whether the command acts on more than one cluster.
func (a *appTargets) several() bool { return len(a.targets) > 1 }

// argsOptions is kubectl's Options pattern, for commands that take arguments.
type argsOptions interface {
	Complete(args []string) error
	Validate() error
	Run(cmd *cobra.Command) error
}

// runOptions is a command's RunE: Complete, Validate (no I/O), then Run.
func runOptions(o argsOptions) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd)
	}
}
