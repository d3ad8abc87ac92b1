// Package e2e holds the end-to-end tests; they run on the real local control
// plane (hack/cluster-up.sh) that framework.Setup starts or reuses.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/zzcloud/zz/test/e2e/framework"
)

var cluster *framework.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	c, err := framework.Setup(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	cluster = c
	code := m.Run()
	if err := c.Teardown(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stop the test cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
