package framework

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// componentLogTail is how many lines of each component's log a dump shows.
const componentLogTail = 30

// Dump logs what a person debugging a failed test looks at first: the
// namespace's events, pods, deployments, and the tail of every component log.
func (c *Cluster) Dump(t testing.TB, namespace string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 20*time.Second)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "==== state of namespace %s\n", namespace)
	c.dumpEvents(ctx, &b, namespace)
	c.dumpPods(ctx, &b, namespace)
	c.dumpDeployments(ctx, &b, namespace)
	c.dumpComponentLogs(&b)
	t.Log(b.String())
}

func (c *Cluster) dumpEvents(ctx context.Context, b *strings.Builder, ns string) {
	events, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(b, "events: %v\n", err)
		return
	}
	sort.Slice(events.Items, func(i, j int) bool {
		return events.Items[i].LastTimestamp.Before(&events.Items[j].LastTimestamp)
	})
	fmt.Fprintf(b, "-- events (%d)\n", len(events.Items))
	for _, e := range events.Items {
		fmt.Fprintf(b, "%s %s %s/%s: %s: %s\n", e.LastTimestamp.Format(time.TimeOnly), e.Type,
			e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
	}
}

func (c *Cluster) dumpPods(ctx context.Context, b *strings.Builder, ns string) {
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(b, "pods: %v\n", err)
		return
	}
	fmt.Fprintf(b, "-- pods (%d)\n", len(pods.Items))
	for _, p := range pods.Items {
		fmt.Fprintf(b, "%s phase=%s node=%q scheduler=%s", p.Name, p.Status.Phase, p.Spec.NodeName, p.Spec.SchedulerName)
		for _, cond := range p.Status.Conditions {
			if cond.Status != corev1.ConditionTrue {
				fmt.Fprintf(b, " %s=%s(%s: %s)", cond.Type, cond.Status, cond.Reason, cond.Message)
			}
		}
		b.WriteString("\n")
	}
}

func (c *Cluster) dumpDeployments(ctx context.Context, b *strings.Builder, ns string) {
	deps, err := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(b, "deployments: %v\n", err)
		return
	}
	fmt.Fprintf(b, "-- deployments (%d)\n", len(deps.Items))
	for _, d := range deps.Items {
		s := d.Status
		fmt.Fprintf(b, "%s generation=%d observed=%d replicas=%d updated=%d ready=%d available=%d\n",
			d.Name, d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)
		for _, cond := range s.Conditions {
			fmt.Fprintf(b, "  %s=%s %s: %s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
		}
	}
}

func (c *Cluster) dumpComponentLogs(b *strings.Builder) {
	logs, _ := filepath.Glob(filepath.Join(c.StateDir, "logs", "*.log"))
	for _, path := range logs {
		fmt.Fprintf(b, "-- last %d lines of %s\n", componentLogTail, path)
		for _, line := range tail(path, componentLogTail) {
			b.WriteString(line)
			b.WriteString("\n")
		}
	}
}

// tail returns the last n lines of a file (nil if it cannot be read).
func tail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	ring := make([]string, 0, n)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if len(ring) == n {
			ring = ring[1:]
		}
		ring = append(ring, sc.Text())
	}
	return ring
}
