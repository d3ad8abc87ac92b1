package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/clustercheck"
	"github.com/zzcloud/zz/internal/contract"
)

// CheckOptions is kubectl zz check: is zz installed and working, per
// cluster, as linkerd check says of linkerd.
type CheckOptions struct {
	targets     []target
	print       *printFlags
	configFlags *genericclioptions.ConfigFlags
	// now is the clock certificates are judged by (tests set it).
	now func() time.Time
	genericiooptions.IOStreams
}

// NewCmdCheck returns "kubectl zz check".
func NewCmdCheck(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CheckOptions{print: newPrintFlags(), configFlags: f, IOStreams: streams, now: time.Now}
	o.print.noWide = true
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check that zz is installed and working: components, scheduler configuration, webhook, admission policies, GPU nodes",
		Long: `Check, for a cluster admin, that zz is installed and working, as linkerd check does
for linkerd: every zz Deployment and DaemonSet has its pods ready; the scheduler
configuration's GPU extender filters, binds and answers kube-scheduler's preemption,
with GPU memory left to it, and, for a zz-scheduler run outside the cluster,
its extenders answer /readyz; the webhook's CA
bundle is a certificate that has not expired (a warning 14 days before) and its Service
has ready endpoints; every ValidatingAdmissionPolicy of the GPU protocol is bound with
Deny (an unbound one enforces nothing: the Trust model's guarantees are gone), and the
MutatingAdmissionPolicy that gives kubectl debug's containers NVIDIA_VISIBLE_DEVICES=void
is bound; every GPU node has a GPU inventory, its cards allocatable, and which are unhealthy; which
namespaces the webhook serves. Each problem says what to run next. Exits 1 when a
check fails (warnings do not), so scripts and CI can gate on it.`,
		Example: "  kubectl zz check\n  kubectl zz check --context prod-a,prod-b\n  kubectl zz check -o json",
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	o.print.addFlags(cmd)
	return cmd
}

// Complete connects to every --context.
func (o *CheckOptions) Complete([]string) error {
	var err error
	o.targets, err = resolveTargets(o.configFlags, true, o.ErrOut)
	return err
}

// Validate checks the flags; it does no I/O.
func (o *CheckOptions) Validate() error {
	if o.print.wide() {
		return errors.New("check prints its results one per line, with no wider table: use -o json, yaml, name, jsonpath=... or go-template=...")
	}
	return o.print.validate()
}

// checkItem is one result, as -o prints it.
type checkItem struct {
	Cluster string `json:"cluster,omitempty"`
	clustercheck.Result
}

// Run checks every cluster, prints the results and fails when one failed.
func (o *CheckOptions) Run(cmd *cobra.Command) error {
	var items []*unstructured.Unstructured
	failed := 0
	probeExtender := clustercheck.HTTPExtenderProbe(clustercheck.ExtenderProbeTimeout)
	for i, t := range o.targets {
		probes := clustercheck.Probes{AsNode: t.asNode, Webhook: t.probeWebhook, Extender: probeExtender, PodSecurity: t.probeWebhook}
		if cfg, err := t.flags.ToRESTConfig(); err == nil {
			probes.Extender = clustercheck.FromHere(probeExtender, cfg.Host)
		}
		results := clustercheck.Evaluate(clustercheck.Gather(cmd.Context(), t.client, probes), o.now())
		if clustercheck.Worst(results) == clustercheck.Fail {
			failed++
		}
		if o.print.table() {
			if i > 0 {
				fmt.Fprintln(o.Out)
			}
			writeChecks(o.Out, t, len(o.targets) > 1, results)
			continue
		}
		for _, r := range results {
			it := checkItem{Result: r}
			if len(o.targets) > 1 {
				it.Cluster = t.name
			}
			u, err := printable(contract.OutputKindCheck, checkName(r), it)
			if err != nil {
				return err
			}
			items = append(items, u)
		}
	}
	if !o.print.table() {
		if err := o.print.printItems(o.Out, items); err != nil {
			return err
		}
	}
	if failed > 0 {
		see := "see the ✗ lines and their hints"
		if !o.print.table() {
			see = `see the results with status "fail" and their hints`
		}
		return fmt.Errorf("zz checks failed in %d of %d clusters: %s", failed, len(o.targets), see)
	}
	return nil
}

// checkMarks are the marks of the statuses, as linkerd check prints them.
var checkMarks = map[clustercheck.Status]string{clustercheck.OK: "✓", clustercheck.Warn: "‼", clustercheck.Fail: "✗"}

// writeChecks prints one cluster's results under their groups, each
// problem with its hint, then a count.
func writeChecks(w io.Writer, t target, several bool, results []clustercheck.Result) {
	if several {
		fmt.Fprintf(w, "context %s\n", t.name)
	}
	group := ""
	counts := map[clustercheck.Status]int{}
	for _, r := range results {
		if r.Group != group {
			if group != "" {
				fmt.Fprintln(w)
			}
			group = r.Group
			fmt.Fprintln(w, group)
		}
		counts[r.Status]++
		fmt.Fprintf(w, "  %s %s: %s\n", checkMarks[r.Status], r.Name, r.Detail)
		if r.Hint != "" {
			fmt.Fprintf(w, "      %s\n", r.Hint)
		}
	}
	fmt.Fprintf(w, "\n%d ok, %s, %d failed\n", counts[clustercheck.OK], count(counts[clustercheck.Warn], "warning"), counts[clustercheck.Fail])
}

// checkName is a result's name for -o: its group and name, lower case,
// every run of other characters a '-' ("webhook.zz-webhook-pods-zz-io-certificate").
func checkName(r clustercheck.Result) string {
	clean := func(s string) string {
		return strings.Trim(strings.Map(func(c rune) rune {
			if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
				return c
			}
			return '-'
		}, strings.ToLower(s)), "-")
	}
	name := clean(r.Group) + "." + clean(r.Name)
	for strings.Contains(name, "--") {
		name = strings.ReplaceAll(name, "--", "-")
	}
	return name
}
