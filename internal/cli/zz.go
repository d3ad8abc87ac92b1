// Package cli is kubectl-zz's command tree (the binary is plugins/kubectl-zz):
// cobra commands in kubectl's Options pattern (Complete, Validate, Run). They
// turn flags into options and call the feature packages (internal/deploy,
// logs, gpuinspect), holding no feature logic; clusters.go is their one way to
// reach clusters (--context a,b) and printer.go their one -o.
package cli

import (
	"errors"
	"flag"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
)

// NewCmdZZ is the root command: kubectl's connection flags (--kubeconfig,
// --context, -n, ...) are shared by every subcommand.
func NewCmdZZ(streams genericiooptions.IOStreams) *cobra.Command {
	cmd, _ := newCmdZZ(streams)
	return cmd
}

// newCmdZZ is NewCmdZZ with the connection flags its commands share.
func newCmdZZ(streams genericiooptions.IOStreams) (*cobra.Command, *genericclioptions.ConfigFlags) {
	configFlags := genericclioptions.NewConfigFlags(true)
	cmd := &cobra.Command{
		// Named after the binary so "completion" scripts register for it; help
		// shows the display name "kubectl zz".
		Use:   "kubectl-zz",
		Short: "Deploy, watch, scale, roll back and remove apps on a zz cluster",
		Long: `kubectl zz deploys apps from a short spec and runs them from there: status, scale,
restart, logs across pods and clusters, history, diff, rollback and delete, without
Kubernetes YAML. Every command takes kubectl's connection flags; --context a,b acts
on several clusters at once.`,
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
	// kubectl's -v/--v: client-go logs its requests from 6 up, with klog.
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	v := pflag.PFlagFromGoFlag(klogFlags.Lookup("v"))
	v.Shorthand, v.Usage = "v", "Log level, as kubectl's: 6 shows each request to the apiserver, 8 their bodies"
	cmd.PersistentFlags().AddFlag(v)
	configFlags.WrapConfigFn = clientDefaults(streams.ErrOut)
	cmd.PersistentFlags().Lookup("context").Usage = "The kubeconfig context to use, or several, comma-separated (a,b), to act on each cluster"
	_ = cmd.RegisterFlagCompletionFunc("namespace", completeNamespaces(configFlags))
	_ = cmd.RegisterFlagCompletionFunc("context", completeContexts(configFlags))
	_ = cmd.RegisterFlagCompletionFunc("cluster", completeKubeconfig(configFlags, false))
	_ = cmd.RegisterFlagCompletionFunc("user", completeKubeconfig(configFlags, true))
	cmd.AddCommand(NewCmdVersion(configFlags, streams))
	cmd.AddCommand(NewCmdDeploy(configFlags, streams))
	cmd.AddCommand(NewCmdInit(configFlags, streams))
	cmd.AddCommand(NewCmdStatus(configFlags, streams))
	cmd.AddCommand(NewCmdList(configFlags, streams))
	cmd.AddCommand(NewCmdEvents(configFlags, streams))
	cmd.AddCommand(NewCmdScale(configFlags, streams))
	cmd.AddCommand(NewCmdRestart(configFlags, streams))
	cmd.AddCommand(NewCmdDelete(configFlags, streams))
	cmd.AddCommand(NewCmdHistory(configFlags, streams))
	cmd.AddCommand(NewCmdDiff(configFlags, streams))
	cmd.AddCommand(NewCmdRollback(configFlags, streams))
	cmd.AddCommand(NewCmdPromote(configFlags, streams))
	cmd.AddCommand(NewCmdAbort(configFlags, streams))
	cmd.AddCommand(NewCmdGPU(configFlags, streams))
	cmd.AddCommand(NewCmdRebalance(configFlags, streams))
	cmd.AddCommand(NewCmdCheck(configFlags, streams))
	cmd.AddCommand(NewCmdLogs(configFlags, streams))
	// A shell cobra writes no script for is an error, as kubectl completion
	// says, not its help and exit 0.
	cmd.InitDefaultCompletionCmd()
	if c, _, err := cmd.Find([]string{"completion"}); err == nil && c != cmd {
		c.Args = cobra.ArbitraryArgs
		// cobra's help sets up completion of the binary's name, kubectl-zz,
		// which nobody types: kubectl completes "kubectl zz" itself, through
		// kubectl_complete-zz (a kubectl audit).
		c.Long = `Generate the autocompletion script of kubectl-zz for the given shell.

"kubectl zz <TAB>" is completed by kubectl itself (1.26 or later), which runs
kubectl_complete-zz from PATH: the release archives hold it beside kubectl-zz,
and krew leaves it in the plugin's folder, so link it once:

  ln -s "${KREW_ROOT:-$HOME/.krew}/store/zz/<version>/kubectl_complete-zz" "${KREW_ROOT:-$HOME/.krew}/bin/"

The scripts printed here complete the binary's own name, kubectl-zz, for those
who run it directly (source <(kubectl zz completion bash)).`
		for _, sh := range c.Commands() {
			sh.Long = "The script completes kubectl-zz, the binary's own name; \"kubectl zz <TAB>\" needs\nkubectl_complete-zz on PATH instead (kubectl zz completion --help).\n\n" + sh.Long
		}
		c.RunE = func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("shell not specified: kubectl zz completion bash|zsh|fish|powershell")
			}
			return fmt.Errorf("unsupported shell type %q: use bash, zsh, fish or powershell", args[0])
		}
	}
	return cmd, configFlags
}
