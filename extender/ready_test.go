package extender

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/balance"
	"github.com/zzcloud/zz/internal/gpushare"
)

// TestReadySaysWhyNotSynced: while the informers cannot list (the
// apiserver down, the RBAC refused), /readyz says the last list error, not
// only that the caches have not synced: an SRE audit started the extender
// against a dead apiserver and read nothing but "have not synced yet".
func TestReadySaysWhyNotSynced(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New(`dial tcp 10.96.0.1:443: connect: connection refused`)
	})
	c, err := NewCache(client, gpushare.NewLedger(), balance.NewBook())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Run(t.Context(), time.Minute, time.Minute) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ready()
		if err != nil && strings.Contains(err.Error(), "connection refused") && strings.Contains(err.Error(), "not synced") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ready: %v; want the caches not synced and the list's error", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
