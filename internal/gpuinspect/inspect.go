// Package gpuinspect shows what the extender sees of the cluster's GPUs: it
// rebuilds the same ledger (internal/gpushare) from nodes and pods, and
// prints it per node and card.
package gpuinspect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// Config says what to show and how.
type Config struct {
	Nodes  []string // only these nodes; all when empty
	Output string   // "", "wide", "json" or "yaml"
}

// Outputs are the accepted Config.Output values.
var Outputs = []string{"wide", "json", "yaml"}

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

// Print writes views in the chosen output format.
func Print(w io.Writer, views []gpushare.NodeView, output string) error {
	switch output {
	case "json":
		b, err := json.MarshalIndent(views, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(views)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "", "wide":
		return printTable(w, views, output == "wide")
	}
	return fmt.Errorf("unknown output format %q; use one of: %s", output, strings.Join(Outputs, ", "))
}

func printTable(w io.Writer, views []gpushare.NodeView, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	header := "NODE\tCARD\tMODEL\tTOTAL\tALLOCATED\tFREE\tPODS"
	if wide {
		header += "\tUUID\tHEALTHY\tPOD MEMORY"
	}
	fmt.Fprintln(tw, header)
	for _, v := range views {
		if v.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t<error: %s>\t\t\t\t\n", v.Name, v.Error)
			continue
		}
		for _, c := range v.Cards {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d", v.Name, c.Index, c.Model, mib(c.MemoryMiB), mib(c.UsedMiB), mib(c.MemoryMiB-c.UsedMiB), len(c.Pods))
			if wide {
				pods := make([]string, len(c.Pods))
				for i, p := range c.Pods {
					pods[i] = fmt.Sprintf("%s/%s:%s", p.Namespace, p.Name, mib(p.MemMiB))
				}
				fmt.Fprintf(tw, "\t%s\t%t\t%s", c.UUID, c.Healthy, strings.Join(pods, ","))
			}
			fmt.Fprintln(tw)
		}
	}
	return tw.Flush()
}

// mib prints MiB as kubectl prints memory quantities.
func mib(v int64) string {
	if v != 0 && v%1024 == 0 {
		return fmt.Sprintf("%dGi", v/1024)
	}
	return fmt.Sprintf("%dMi", v)
}
