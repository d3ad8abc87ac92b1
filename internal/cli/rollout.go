package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/zzcloud/zz/internal/deploy"
)

// rolloutFlags are the flags of every command that changes an app and waits
// for its rollout (deploy, rollback, scale, restart, promote, abort).
type rolloutFlags struct {
	Timeout      time.Duration
	HistoryLimit int
}

func (f *rolloutFlags) addFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&f.Timeout, "timeout", deploy.DefaultTimeout, "How long to wait for the rollout before failing")
	fs.IntVar(&f.HistoryLimit, "history-limit", deploy.DefaultHistoryLimit, "Revisions to keep per app")
}

// validate checks the flags; no I/O.
func (f *rolloutFlags) validate() error {
	switch {
	case f.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %s", f.Timeout)
	case f.HistoryLimit < 1:
		return fmt.Errorf("--history-limit must be at least 1, got %d", f.HistoryLimit)
	}
	return nil
}

// options are the deploy package's options for one target, reporting to progress.
func (f *rolloutFlags) options(t target, progress io.Writer, live bool) deploy.Options {
	return deploy.Options{
		Namespace: t.namespace, Timeout: f.Timeout, HistoryLimit: f.HistoryLimit,
		Progress: progress, Live: live, Width: termWidth(progress),
	}
}
