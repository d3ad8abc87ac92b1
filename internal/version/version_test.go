package version

import (
	"runtime"
	"testing"
)

func TestGetAndBanner(t *testing.T) {
	old, oldCommit := gitVersion, gitCommit
	t.Cleanup(func() { gitVersion, gitCommit = old, oldCommit })
	gitVersion, gitCommit = "v1.2.3", "abc1234"
	if got, want := Banner("zz-webhook"), "zz-webhook v1.2.3 abc1234"; got != want {
		t.Errorf("Banner = %q, want %q", got, want)
	}
	info := Get()
	if info.GitVersion != "v1.2.3" || info.GitCommit != "abc1234" || info.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("Get = %+v", info)
	}
}
