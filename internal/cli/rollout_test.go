package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestTimeoutFlag: without --timeout the deploy package is given no
// timeout, which it derives from the app's startup window
// (deploy.RolloutTimeout); a --timeout given always wins, and one that is
// not positive is refused.
func TestTimeoutFlag(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		want    time.Duration
		wantErr string
	}{
		{args: nil, want: 0},
		{args: []string{"--timeout", "3m"}, want: 3 * time.Minute},
		{args: []string{"--timeout", "5m"}, want: 5 * time.Minute}, // the old default, given: kept
		{args: []string{"--timeout", "0s"}, wantErr: "--timeout must be positive, got 0s; leave it out to wait as long as the app's pods may take to start"},
		{args: []string{"--timeout=-1m"}, wantErr: "--timeout must be positive"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var f rolloutFlags
			fs := pflag.NewFlagSet("deploy", pflag.ContinueOnError)
			f.addFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := f.validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validate: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.options(target{}, nil, false).Timeout; got != tt.want {
				t.Errorf("Options.Timeout %s, want %s", got, tt.want)
			}
		})
	}
}
