// Package gpuinspect shows what the extender sees of the cluster's GPUs: it
// rebuilds the same ledger (internal/gpushare) from nodes and pods, and
// prints it per node and card.
package gpuinspect

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// Collect lists nodes and pods and returns the GPU nodes' cards and pods.
// Pods whose annotations cannot be read are reported in warnings, not dropped
// silently.
func Collect(ctx context.Context, client kubernetes.Interface, only []string) (views []gpushare.NodeView, warnings []string, err error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list nodes: %w", err)
	}
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list pods: %w", err)
	}
	ledger := gpushare.NewLedger()
	for i := range nodes.Items {
		ledger.SetNode(&nodes.Items[i])
	}
	for i := range pods.Items {
		if err := ledger.SetPod(&pods.Items[i]); err != nil {
			warnings = append(warnings, err.Error())
		}
	}
	for _, v := range ledger.View() {
		if len(only) == 0 || slices.Contains(only, v.Name) {
			views = append(views, v)
		}
	}
	for _, name := range only {
		if !slices.ContainsFunc(views, func(v gpushare.NodeView) bool { return v.Name == name }) {
			return nil, warnings, fmt.Errorf("node %q has no GPUs zz knows of (no "+contract.AnnotationNodeGPUInventory+" annotation); list GPU nodes with: kubectl zz gpu", name)
		}
	}
	return views, warnings, nil
}

// Table returns the table kubectl zz gpu prints: one row per card (per node
// when its inventory is unreadable); wide adds UUID, health and each pod's
// memory. The command prints it (with a CLUSTER column across clusters).
func Table(views []gpushare.NodeView, wide bool) (header []string, rows [][]string) {
	header = []string{"NODE", "CARD", "MODEL", "TOTAL", "ALLOCATED", "FREE", "PODS"}
	if wide {
		header = append(header, "UUID", "HEALTHY", "POD MEMORY")
	}
	for _, v := range views {
		if v.Error != "" {
			row := []string{v.Name, "-", "<error: " + v.Error + ">", "", "", "", ""}
			if wide {
				row = append(row, "", "", "")
			}
			rows = append(rows, row)
			continue
		}
		for _, c := range v.Cards {
			row := []string{v.Name, strconv.Itoa(c.Index), c.Model, mib(c.MemoryMiB), mib(c.UsedMiB), mib(c.MemoryMiB - c.UsedMiB), strconv.Itoa(len(c.Pods))}
			if wide {
				pods := make([]string, len(c.Pods))
				for i, p := range c.Pods {
					pods[i] = fmt.Sprintf("%s/%s:%s", p.Namespace, p.Name, mib(p.MemMiB))
				}
				row = append(row, c.UUID, health(c.Card), strings.Join(pods, ","))
			}
			rows = append(rows, row)
		}
	}
	return header, rows
}

// mib prints MiB as kubectl prints memory quantities.
func mib(v int64) string {
	if v != 0 && v%1024 == 0 {
		return fmt.Sprintf("%dGi", v/1024)
	}
	return fmt.Sprintf("%dMi", v)
}

// health is the HEALTHY column: true, or false with the device plugin's reason.
func health(c gpushare.Card) string {
	if c.Healthy || c.Reason == "" {
		return strconv.FormatBool(c.Healthy)
	}
	return "false (" + c.Reason + ")"
}
