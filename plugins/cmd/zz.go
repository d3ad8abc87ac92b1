// Package cmd holds the cobra commands of kubectl-zz. Commands only turn flags
// into options and call the feature packages; they hold no feature logic.
package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// NewCmdZZ is the root command: kubectl's connection flags (--kubeconfig,
// --context, -n, ...) are shared by every subcommand.
func NewCmdZZ(streams genericiooptions.IOStreams) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true)
	cmd := &cobra.Command{
		// Named after the binary so "completion" scripts register for it; help
		// shows the display name "kubectl zz".
		Use:   "kubectl-zz",
		Short: "Deploy, follow and roll back apps on a zz cluster",
		Long: `kubectl zz deploys apps from a short spec, follows their logs across pods and
clusters, and rolls them back, without Kubernetes YAML.`,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl zz",
		},
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	configFlags.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(NewCmdVersion(streams))
	cmd.AddCommand(NewCmdDeploy(configFlags, streams))
	cmd.AddCommand(NewCmdHistory(configFlags, streams))
	cmd.AddCommand(NewCmdRollback(configFlags, streams))
	cmd.AddCommand(NewCmdGPU(configFlags, streams))
	cmd.AddCommand(NewCmdLogs(configFlags, streams))
	return cmd
}
