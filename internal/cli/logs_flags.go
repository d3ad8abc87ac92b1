package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/zzcloud/zz/internal/logs"
)

// Timestamp formats of --timestamps (stern's words).
const (
	timestampsDefault = "default" // the kubelet's stamp, RFC 3339 with nine fraction digits, UTC
	timestampsShort   = "short"   // stern's short form, local time to the second
)

// timestampsFlag is stern's --timestamps[=default|short]: a bare
// --timestamps is default, and true/false are taken too, as the flag was a
// boolean before (--timestamps=false in a script still works). A bare
// --timestamps arrives as "true" (its NoOptDefVal), so that it is told from
// --timestamps=default: bare records it, for the app argument check
// (timestampsValueAsApp).
type timestampsFlag struct {
	format *string
	bare   *bool
}

func (f timestampsFlag) String() string {
	if f.format == nil {
		return ""
	}
	return *f.format
}

func (f timestampsFlag) Set(s string) error {
	*f.bare = s == timestampsBare
	switch s {
	case timestampsDefault, timestampsShort:
		*f.format = s
		return nil
	}
	on, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want %s or %s (--timestamps=short; a bare --timestamps is %s)", timestampsDefault, timestampsShort, timestampsDefault)
	}
	*f.format = ""
	if on {
		*f.format = timestampsDefault
	}
	return nil
}

func (f timestampsFlag) Type() string { return "format" }

// timestampsBare is what a bare --timestamps is set to: the boolean's
// "true", which means default.
const timestampsBare = "true"

// timestampsValueAsApp refuses an app argument that is a --timestamps format
// following a bare --timestamps: "--timestamps short" with a space gives
// "short" as an app name (pflag takes an optional value after "=" only),
// and would follow an app called short, or fail on two app names, without
// saying why. An app really named short is still given, after an explicit
// --timestamps=FORMAT.
func (o *LogsOptions) timestampsValueAsApp(args []string) error {
	if !o.timestampsBare {
		return nil
	}
	for _, a := range args {
		if a == timestampsDefault || a == timestampsShort {
			return fmt.Errorf("%q after a bare --timestamps is read as an app name; write --timestamps=%s (for an app named %s: --timestamps=default %s)", a, a, a, a)
		}
	}
	return nil
}

// timestamps sets --timestamps in a line format.
func (o *LogsOptions) timestamps(f *logs.Format) {
	f.Timestamps = o.Timestamps != ""
	if o.Timestamps == timestampsShort {
		f.TimeLayout, f.Location = logs.TimeShort, time.Local
	}
}
