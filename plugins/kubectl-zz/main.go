// kubectl-zz is the developer's entry to zz, installed with krew and run as
// "kubectl zz".
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/cli"
)

func main() {
	root := cli.NewCmdZZ(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	// cobra has printed the error on stderr already.
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
