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
// boolean before (--timestamps=false in a script still works).
type timestampsFlag struct{ format *string }

func (f timestampsFlag) String() string {
	if f.format == nil {
		return ""
	}
	return *f.format
}

func (f timestampsFlag) Set(s string) error {
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

// timestamps sets --timestamps in a line format.
func (o *LogsOptions) timestamps(f *logs.Format) {
	f.Timestamps = o.Timestamps != ""
	if o.Timestamps == timestampsShort {
		f.TimeLayout, f.Location = logs.TimeShort, time.Local
	}
}
