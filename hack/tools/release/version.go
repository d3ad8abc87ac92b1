package main

import (
	"fmt"
	"regexp"
)

// semver is krew's rule for spec.version: v, then a semantic version
// (https://semver.org, 2.0.0), pre-release and build parts allowed.
var semver = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(-((0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(\+([0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*))?$`)

func checkVersion(v string) error {
	if !semver.MatchString(v) {
		return fmt.Errorf("version %q is not a semantic version with a leading v (e.g. v0.1.0), which krew requires; tag the commit or set VERSION", v)
	}
	return nil
}
