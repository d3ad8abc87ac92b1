package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
)

// appTarget is what the commands about one deployed app share: its name, the
// namespace kubectl's flags select, and a client.
type appTarget struct {
	App         string
	namespace   string
	client      kubernetes.Interface
	configFlags genericclioptions.RESTClientGetter
}

// complete takes the app name from args[0] (cobra checked there is one).
func (a *appTarget) complete(args []string) error {
	a.App = args[0]
	var err error
	if a.namespace, _, err = a.configFlags.ToRawKubeConfigLoader().Namespace(); err != nil {
		return err
	}
	a.client, err = newClient(a.configFlags)
	return err
}

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
