package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// Named zones of --timezone load on a machine without tzdata (a
	// distroless image, Windows without Go installed): the tz database is
	// built into the binary (about 450 KB) and used when the system has none.
	_ "time/tzdata"

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

// timestamps sets --timestamps and --timezone in a line format. Without
// --timezone each form prints what it printed before the flag: default the
// kubelet's stamp as sent (UTC, the same text as kubectl logs --timestamps),
// short the local time. With it, both print in that zone, default in
// stern's layout (nine fraction digits and the offset).
func (o *LogsOptions) timestamps(f *logs.Format) error {
	f.Timestamps = o.Timestamps != ""
	if o.Timezone != "" && !f.Timestamps {
		return fmt.Errorf("--timezone %s sets the zone of the timestamps, which only --timestamps prints: add --timestamps (or --timestamps=short)", o.Timezone)
	}
	loc, err := timezone(o.Timezone)
	if err != nil {
		return err
	}
	switch {
	case o.Timestamps == timestampsShort:
		f.TimeLayout, f.Location = logs.TimeShort, loc
	case f.Timestamps && o.Timezone != "":
		f.TimeLayout, f.Location = logs.TimeDefault, loc
	}
	return nil
}

// timezones are what completion offers for --timezone: the two words and
// the zones of the regions zz's users run in; any IANA name is taken.
var timezones = []string{"Local", "UTC", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "Asia/Tokyo",
	"Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles"}

// timezone loads --timezone: "" and Local are this machine's zone, UTC is
// UTC (either word in any case), anything else an IANA name, looked up in
// the system's tz database and then in the one built in (time/tzdata).
func timezone(name string) (*time.Location, error) {
	switch {
	case name == "" || strings.EqualFold(name, "Local"):
		return time.Local, nil
	case strings.EqualFold(name, "UTC"):
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("--timezone %q: %w; give an IANA zone name such as Asia/Shanghai or Europe/Berlin (case matters), Local (this machine's zone) or UTC",
			name, err)
	}
	return loc, nil
}
