package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// TestWebhookConnectionHog: a tenant's pod opens connections to the webhook
// (reachable from every pod unless a NetworkPolicy says otherwise) and
// sends nothing, holding more than its 512 slots; the apiserver's first
// call to it still gets through, and another tenant's pod is mutated. Before,
// the slots went first come first served and the rest waited in the
// kernel's backlog: a hostile-tenant audit's 3000 connections made every
// pod creation of every opted-in namespace fail ("failed calling webhook
// ... context deadline exceeded") once the apiserver's kept-alive
// connection had closed. 127.0.0.2 stands for the hog's pod address.
func TestWebhookConnectionHog(t *testing.T) {
	w := startWebhook(t, fmt.Sprintf(webhookPolicy, "hog", "0.5"))
	ns := cluster.Namespace(t, map[string]string{contract.LabelInjection: contract.InjectionEnabled})
	tenant := editTenant(t, ns)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	addr := fmt.Sprintf("127.0.0.1:%d", w.port)
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for range 1500 {
		wg.Go(func() { hog(ctx, &dialer, addr) })
	}
	time.Sleep(2 * time.Second) // every slot held, the rest queued

	// The apiserver has never called this webhook: its first call needs a
	// new connection, as after a restart or an idle close.
	cluster.WaitFor(t, 60*time.Second, "a tenant's pod mutated while another holds the webhook's connections", func(ctx context.Context) (bool, string, error) {
		pod, err := tenant.client.CoreV1().Pods(ns).Create(ctx, appPod("probe", "1"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case err != nil && strings.Contains(err.Error(), "failed calling webhook"):
			return false, "", err
		case err != nil:
			return false, err.Error(), nil
		}
		return len(pod.Spec.Containers) > 1, fmt.Sprintf("%d containers: the apiserver has not called the webhook yet", len(pod.Spec.Containers)), nil
	})
}

// hog holds one connection to addr at a time, sending nothing, and opens
// another when the server closes it, until ctx ends.
func hog(ctx context.Context, d *net.Dialer, addr string) {
	buf := make([]byte, 512)
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		stop()
		_ = c.Close()
		time.Sleep(100 * time.Millisecond) // spare the test machine's CPU
	}
}
