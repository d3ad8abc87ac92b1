// kubectl-zz is the developer's entry to zz, installed with krew and run as
// "kubectl zz".
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/cli"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/prose"
)

func main() {
	// Ctrl-C or SIGTERM (a cancelled CI job) cancels the command's context,
	// so a command waiting for a rollout stops as it says it would: deploy
	// --rollback-on-failure and rollback restore the last revision, others
	// say what was left. A second signal ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		// The second: the app locks this process holds are released
		// first (a few seconds at most), or they would block the app for
		// a minute, named by status as changing it. Caught before the
		// first handler goes, so none ends the process unhandled.
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		stop()
		sig := <-again
		deploy.ReleaseHeld(3 * time.Second)
		if sig == syscall.SIGTERM {
			os.Exit(143) // 128 + the signal, as a shell reports it
		}
		os.Exit(130)
	}()
	root := cli.NewCmdZZ(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	root.SilenceErrors = true
	cmd, err := root.ExecuteContextC(ctx)
	err = cli.Interrupted(ctx, err) // before stop, which cancels ctx too
	stop()
	if err == nil {
		return
	}
	code := cli.ExitCode(cmd, err)
	// deploy --diff says "differences found" by its exit code alone, as kubectl diff.
	// Escaped as kubectl zz's other lines: an error may quote what a namespace's
	// pods say (a crash's last log lines, a termination message). Prefixed
	// "error:", as kubectl writes it (and zz's own "warning:" lines).
	if !errors.Is(err, cli.ErrDiffers) {
		fmt.Fprintln(os.Stderr, "error:", prose.Terminal(err.Error()))
	}
	os.Exit(code)
}
