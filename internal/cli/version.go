package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/version"
)

// VersionOptions prints the plugin's build.
type VersionOptions struct {
	print *printFlags
	genericiooptions.IOStreams
}

// NewCmdVersion returns "kubectl zz version".
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	o := &VersionOptions{print: newPrintFlags(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the kubectl-zz version",
		Example: "  kubectl zz version\n  kubectl zz version -o json\n  kubectl zz version -o jsonpath='{.gitVersion}'",
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	o.print.addFlags(cmd)
	return cmd
}

// Complete has nothing to resolve.
func (o *VersionOptions) Complete([]string) error { return nil }

// Validate checks the flags; it does no I/O.
func (o *VersionOptions) Validate() error { return o.print.validate() }

// Run prints the version.
func (o *VersionOptions) Run(*cobra.Command) error {
	info := version.Get()
	if !o.print.table() {
		u, err := printable(contract.OutputKindVersion, "kubectl-zz", info)
		if err != nil {
			return err
		}
		return o.print.print(o.Out, u)
	}
	_, err := fmt.Fprintf(o.Out, "kubectl-zz %s (commit %s, %s, %s)\n", info.GitVersion, info.GitCommit, info.GoVersion, info.Platform)
	return err
}
