// kubectl-zz is the developer's entry to zz, installed with krew and run as
// "kubectl zz".
package main

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/cli"
)

func main() {
	root := cli.NewCmdZZ(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	root.SilenceErrors = true
	cmd, err := root.ExecuteC()
	if err == nil {
		return
	}
	code := cli.ExitCode(cmd, err)
	// deploy --diff says "differences found" by its exit code alone, as kubectl diff.
	if !errors.Is(err, cli.ErrDiffers) {
		fmt.Fprintln(os.Stderr, "Error:", err)
	}
	os.Exit(code)
}
