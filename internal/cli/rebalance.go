package cli

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/rebalance"
)

// RebalanceOptions moves running pods towards an even cluster.
type RebalanceOptions struct {
	DryRun       bool
	NodeSelector string
	MaxMoves     int
	Timeout      time.Duration
	// Namespace, from an explicit -n, is the only namespace whose pods
	// move; "" (the default, whatever the context's namespace): every one.
	Namespace string

	target      target
	print       *printFlags
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewCmdRebalance returns "kubectl zz rebalance".
func NewCmdRebalance(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &RebalanceOptions{configFlags: configFlags, print: newPrintFlags(), IOStreams: streams, MaxMoves: 20, Timeout: 2 * time.Minute}
	cmd := &cobra.Command{
		Use:   "rebalance [--dry-run]",
		Short: "Move running pods so that the nodes' CPU and memory requests even out",
		Long: `Plan moves of running pods off the most loaded nodes until no move evens the
cluster further (the nodes' CPU and memory request fractions, pulled to the
cluster's means, as the zz extender places pods), print them with the expected
spread after, and carry them out one replica at a time through the Eviction API:
a pod is evicted only while its app has every replica ready, the next move waits
for its replacement to be ready, and PodDisruptionBudgets hold.

A pod is planned only onto a node its scheduler could place it on: room for
every resource it requests, its node selector and affinity, the taints it
tolerates, its volumes' node affinity, its host ports, and its pod
(anti-)affinity and topology spread. Never moved: pods without a ReplicaSet or
StatefulSet controller (nothing would recreate them), DaemonSet pods, apps of
one replica, pods whose PodDisruptionBudget allows no disruption, pods on
shared GPU memory (the extender packs those card by card) and kube-system; the
plan says how many stay and why. Pods of every namespace move, unless -n names
one: then only its pods move, and every pod's requests still count in the
nodes' load. The replacement is placed by the pod's
scheduler; with zz-scheduler's balance extender it goes where the plan expects.

The exit status is non-zero when a planned move could not be made (or its app
was not whole again within --timeout); a move whose pod went away or moved
meanwhile is not a failure.`,
		Example: `  # show the plan only
  kubectl zz rebalance --dry-run
  # move only team-a's pods (every pod still counts in the nodes' load)
  kubectl zz rebalance -n team-a --dry-run
  # rebalance the general pool, at most 10 moves
  kubectl zz rebalance --selector zz.io/pool=general --max-moves 10`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("rebalance takes no arguments, got %q; it plans over nodes: pick them with --selector (node labels, e.g. zz.io/pool=general)", args[0])
			}
			return nil
		},
		RunE: runOptions(o),
	}
	addDryRun(cmd.Flags(), &o.DryRun, "Print the plan and move nothing", "the plan is made from what the cluster runs and moves nothing")
	cmd.Flags().StringVarP(&o.NodeSelector, "selector", "l", "", "Label selector of the nodes to even out (default: all schedulable nodes).")
	cmd.Flags().IntVar(&o.MaxMoves, "max-moves", o.MaxMoves, "Plan at most this many moves.")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long one move may wait: for its app to be whole, for a PodDisruptionBudget, for the replacement to be ready.")
	o.print.addFlags(cmd)
	o.print.addNoHeaders(cmd)
	return cmd
}

// Complete connects to the cluster.
func (o *RebalanceOptions) Complete(_ []string) error {
	// Only an explicit -n: the plan is cluster-wide by default, so the
	// kubeconfig context's namespace does not narrow it.
	if o.configFlags.Namespace != nil {
		o.Namespace = *o.configFlags.Namespace
	}
	var err error
	o.target, err = oneTarget(o.configFlags, "rebalance")
	return err
}

// Validate checks the flags; it does no I/O.
func (o *RebalanceOptions) Validate() error {
	if o.MaxMoves <= 0 {
		return fmt.Errorf("--max-moves %d: give a positive number", o.MaxMoves)
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout %v: give a positive duration, e.g. 2m", o.Timeout)
	}
	return o.print.validate()
}

// moveItem is one move as -o json prints it.
type moveItem struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	App       string `json:"app"`
	From      string `json:"from"`
	To        string `json:"to"`
	CPU       string `json:"cpu"`
	Memory    string `json:"memory"`
	Result    string `json:"result,omitempty"`
}

// Run plans, prints, and unless --dry-run carries the plan out.
func (o *RebalanceOptions) Run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	nodes, notReady, err := rebalance.Snapshot(ctx, o.target.client, o.NodeSelector)
	if err != nil {
		return err
	}
	if len(nodes) == 0 && len(notReady) == 0 && o.NodeSelector != "" {
		// -l of status or logs selects pods: here, nodes (a docs audit).
		return deploy.NotFound("no schedulable node matches -l %s: rebalance's selector picks the nodes to even out (a pool, e.g. -l %s=general), not pods", o.NodeSelector, contract.LabelPool)
	}
	if o.Namespace != "" {
		// -n: that namespace's pods move (as descheduler's namespace
		// filter), every pod's requests still load the nodes; it was
		// taken and ignored, every namespace's pods moved (an audit).
		rebalance.OnlyNamespace(nodes, o.Namespace)
	}
	plan := rebalance.Compute(nodes, rebalance.Options{MaxMoves: o.MaxMoves})
	if err := o.printMoves(plan.Moves); err != nil {
		return err
	}
	if left := rebalance.LeftOut(notReady); left != "" {
		// Their pods are about to be evicted: not load to even out, and
		// no place to send a pod (an incident audit).
		fmt.Fprintln(o.ErrOut, left)
	}
	fmt.Fprintf(o.ErrOut, "CPU request fractions over %d nodes: range %.3f, CV %.3f now; expected after %d moves: range %.3f, CV %.3f (memory: range %.3f → %.3f, CV %.3f → %.3f)\n",
		len(nodes), plan.Before.Range, plan.Before.CV, len(plan.Moves), plan.After.Range, plan.After.CV,
		plan.BeforeMemory.Range, plan.AfterMemory.Range, plan.BeforeMemory.CV, plan.AfterMemory.CV)
	if kept := rebalance.Kept(nodes); kept != "" {
		fmt.Fprintf(o.ErrOut, "Pods never moved, and why:\n  %s\n", strings.ReplaceAll(kept, "\n", "\n  "))
	}
	if others := otherSchedulers(plan.Moves); others != "" {
		fmt.Fprintf(o.ErrOut, "warning: %s; their replacements go where that scheduler puts them, which may not be where planned (zz-scheduler's balance extender places them as the plan expects; the shipped webhook policy routes every pool's pods to it)\n", others)
	}
	if w := sampledWarning(len(nodes), len(plan.Moves)); w != "" {
		fmt.Fprintln(o.ErrOut, w)
	}
	if o.DryRun || len(plan.Moves) == 0 {
		return nil
	}
	outcomes := rebalance.Execute(ctx, o.target.client, plan, rebalance.ExecOptions{Timeout: o.Timeout, Report: func(r rebalance.Outcome) {
		switch {
		case r.Done && r.Landed == r.Move.To:
			fmt.Fprintf(o.ErrOut, "moved %s/%s off %s to %s, as planned\n", r.Move.Pod.Namespace, r.Move.Pod.Name, r.Move.From, r.Landed)
		case r.Done && r.Landed != "":
			fmt.Fprintf(o.ErrOut, "moved %s/%s off %s to %s (planned: %s)\n", r.Move.Pod.Namespace, r.Move.Pod.Name, r.Move.From, r.Landed, r.Move.To)
		case r.Done:
			fmt.Fprintf(o.ErrOut, "moved %s/%s off %s\n", r.Move.Pod.Namespace, r.Move.Pod.Name, r.Move.From)
		case r.Evicted:
			fmt.Fprintf(o.ErrOut, "moved %s/%s off %s, but: %s\n", r.Move.Pod.Namespace, r.Move.Pod.Name, r.Move.From, r.Skipped)
		default:
			fmt.Fprintf(o.ErrOut, "skipped %s/%s: %s\n", r.Move.Pod.Namespace, r.Move.Pod.Name, r.Skipped)
		}
	}})
	after, _, err := rebalance.Snapshot(ctx, o.target.client, o.NodeSelector)
	if err != nil {
		return err
	}
	now, nowMemory := rebalance.Measure(after)
	done, failed := 0, 0
	for _, r := range outcomes {
		if r.Done {
			done++
		}
		if r.Failed() {
			failed++
		}
	}
	fmt.Fprintf(o.ErrOut, "%d of %d moves made; CPU request fractions now: range %.3f, CV %.3f (memory: range %.3f, CV %.3f)\n", done, len(plan.Moves), now.Range, now.CV, nowMemory.Range, nowMemory.CV)
	// As kubectl drain does, a move that could not be made is a failure;
	// one made moot (its pod gone or moved meanwhile) is not.
	if failed > 0 {
		return fmt.Errorf("%d of %d moves failed (the reasons are above); run kubectl zz rebalance again once those apps are whole, or with a longer --timeout", failed, len(plan.Moves))
	}
	return nil
}

func (o *RebalanceOptions) printMoves(moves []rebalance.Move) error {
	tbl := o.print.newTable("NAMESPACE", "POD", "APP", "FROM", "TO", "CPU", "MEMORY")
	var items []*unstructured.Unstructured
	for _, m := range moves {
		cpu := resource.NewMilliQuantity(m.Pod.Requests.MilliCPU, resource.DecimalSI).String()
		mem := resource.NewQuantity(m.Pod.Requests.Memory, resource.BinarySI).String()
		tbl.add("", m.Pod.Namespace, m.Pod.Name, m.Pod.App, m.From, m.To, cpu, mem)
		u, err := printable(contract.OutputKindRebalanceMove, m.Pod.Name, moveItem{Namespace: m.Pod.Namespace, Pod: m.Pod.Name,
			App: m.Pod.App, From: m.From, To: m.To, CPU: cpu, Memory: mem})
		if err != nil {
			return err
		}
		items = append(items, u)
	}
	if !o.print.table() {
		return o.print.printItems(o.Out, items)
	}
	if len(moves) == 0 {
		fmt.Fprintln(o.ErrOut, "No move would even the nodes out further.")
		return nil
	}
	return tbl.print(o.Out, false)
}

// otherSchedulers says how many of moves are of pods another scheduler than
// zz-scheduler places, and which ("" when none).
func otherSchedulers(moves []rebalance.Move) string {
	var names []string
	n := 0
	for _, m := range moves {
		if m.Pod.Scheduler != contract.SchedulerName {
			n++
			if !slices.Contains(names, m.Pod.Scheduler) {
				names = append(names, m.Pod.Scheduler)
			}
		}
	}
	if n == 0 {
		return ""
	}
	slices.Sort(names)
	return fmt.Sprintf("%d of the %d moves are of pods placed by %s", n, len(moves), strings.Join(names, ", "))
}

// minFeasibleNodesToFind is kube-scheduler's: on a cluster of more nodes it
// stops filtering once it has found a share of them feasible
// (percentageOfNodesToScore; zz-scheduler's profile: max(100, 1%)) and
// scores only those, where the plan weighs every node.
const minFeasibleNodesToFind = 100

// sampledWarning says, for a plan with moves over more nodes than the
// scheduler scores, that a replacement may land elsewhere than planned.
func sampledWarning(nodes, moves int) string {
	if nodes <= minFeasibleNodesToFind || moves == 0 {
		return ""
	}
	return fmt.Sprintf("note: over %d nodes the scheduler scores only a sample of the feasible ones (percentageOfNodesToScore), so a replacement may land on another node than planned; each move says where it landed", nodes)
}
