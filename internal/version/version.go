// Package version is the build's identity, set at link time by the Makefile
// (-X github.com/zzcloud/zz/internal/version.gitVersion=...).
package version

import "runtime"

var (
	gitVersion = "v0.0.0-dev"
	gitCommit  = "unknown"
)

// Info describes one build of a zz binary.
type Info struct {
	GitVersion string `json:"gitVersion"`
	GitCommit  string `json:"gitCommit"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
}

// Get returns this build's Info.
func Get() Info {
	return Info{
		GitVersion: gitVersion,
		GitCommit:  gitCommit,
		GoVersion:  runtime.Version(),
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// Banner is the line a server binary prints for --version: "NAME VERSION COMMIT".
func Banner(name string) string {
	return name + " " + gitVersion + " " + gitCommit
}
