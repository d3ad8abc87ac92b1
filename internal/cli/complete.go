package cli

import (
	"context"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/gpushare"
)

// completeEach is the frame of the completions below: names collects, in
// every --context, what each target offers (add skips "" and repeats), and
// they come back sorted; a target that cannot be read fails the completion.
func completeEach(f *genericclioptions.ConfigFlags, names func(ctx context.Context, t target, args []string, add func(string)) error) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		targets, err := resolveTargets(f, true, io.Discard)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []cobra.Completion
		add := func(name string) {
			if name != "" && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
		for _, t := range targets {
			if err := names(cmd.Context(), t, args, add); err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
		}
		slices.Sort(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// appCompletion completes app arguments (the first, or with many each)
// with the names of the apps kubectl zz deployed in the namespace, in
// every --context: their
// Deployments (a canary's carries its app's name) and, where the user may
// read them, their revision records, so an app deleted with --keep-history
// completes for rollback.
func appCompletion(f *genericclioptions.ConfigFlags, many bool) cobra.CompletionFunc {
	apps := completeEach(f, func(ctx context.Context, t target, _ []string, add func(string)) error {
		managed := metav1.ListOptions{LabelSelector: contract.LabelK8sManagedBy + "=" + contract.ManagedBy}
		list, err := t.client.AppsV1().Deployments(t.namespace).List(ctx, managed)
		if err != nil {
			return err
		}
		for _, d := range list.Items {
			add(d.Labels[contract.LabelApp])
		}
		if records, err := t.client.CoreV1().Secrets(t.namespace).List(ctx, managed); err == nil {
			for _, s := range records.Items {
				if string(s.Type) == contract.SecretTypeRevision {
					add(s.Labels[contract.LabelApp])
				}
			}
		}
		return nil
	})
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 && !many {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		// A command that takes several offers the ones not named yet.
		names, dir := apps(cmd, args, toComplete)
		return slices.DeleteFunc(names, func(n cobra.Completion) bool { return slices.Contains(args, n) }), dir
	}
}

// completeApps completes a command's one app argument (appCompletion).
func completeApps(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return appCompletion(f, false)
}

// completeSeveralApps completes each app argument of a command that takes
// several (status, delete), offering those not named yet.
func completeSeveralApps(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return appCompletion(f, true)
}

// completeCanaries completes promote's and abort's argument with the apps
// that run a canary (<app>-canary, track canary), in every --context: an
// app without one has nothing to end.
func completeCanaries(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	apps := completeEach(f, func(ctx context.Context, t target, _ []string, add func(string)) error {
		list, err := t.client.AppsV1().Deployments(t.namespace).List(ctx, metav1.ListOptions{
			LabelSelector: contract.LabelK8sManagedBy + "=" + contract.ManagedBy + "," + contract.LabelTrack + "=" + contract.TrackCanary})
		if err != nil {
			return err
		}
		for _, d := range list.Items {
			if app := d.Labels[contract.LabelApp]; d.Name == app+contract.CanarySuffix {
				add(app)
			}
		}
		return nil
	})
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return apps(cmd, args, toComplete)
	}
}

// completeDeployments completes init --from with deployment/NAME for the
// namespace's Deployments that kubectl zz did not make (one context).
func completeDeployments(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return completeEach(f, func(ctx context.Context, t target, _ []string, add func(string)) error {
		list, err := t.client.AppsV1().Deployments(t.namespace).List(ctx, metav1.ListOptions{
			LabelSelector: contract.LabelK8sManagedBy + "!=" + contract.ManagedBy})
		if err != nil {
			return err
		}
		for _, d := range list.Items {
			add("deployment/" + d.Name)
		}
		return nil
	})
}

// completeWaitingGPUPods completes kubectl zz gpu --fit with pod/NAME for
// the namespace's pods that ask for GPU memory and wait for a node, in
// every --context.
func completeWaitingGPUPods(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return completeEach(f, func(ctx context.Context, t target, _ []string, add func(string)) error {
		pods, err := waitingGPUPods(ctx, t, t.namespace, "")
		for _, p := range pods {
			add("pod/" + p.Name)
		}
		return err
	})
}

// waitingGPUPods are the pods of ns (every namespace for "") matching
// selector that ask for GPU memory and wait for a node.
func waitingGPUPods(ctx context.Context, t target, ns, selector string) ([]*corev1.Pod, error) {
	list, err := t.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=", LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if _, err := gpushare.PodRequest(p); err == nil && p.Spec.NodeName == "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// completePodNodes completes kubectl zz logs --node with the nodes that run
// the app's pods (args[0]), or every node without an app, in every
// --context.
func completePodNodes(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return completeEach(f, func(ctx context.Context, t target, args []string, add func(string)) error {
		if len(args) == 0 {
			list, err := t.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			for _, n := range list.Items {
				add(n.Name)
			}
			return nil
		}
		list, err := t.client.CoreV1().Pods(t.namespace).List(ctx, metav1.ListOptions{LabelSelector: contract.LabelApp + "=" + args[0]})
		if err != nil {
			return err
		}
		for _, p := range list.Items {
			add(p.Spec.NodeName)
		}
		return nil
	})
}

// completePods completes a flag with what names gives of each pod of the
// app named first (every pod of the namespace without one), in every
// --context: logs' -c and --pod.
func completePods(f *genericclioptions.ConfigFlags, names func(*corev1.Pod) []string) cobra.CompletionFunc {
	return completeEach(f, func(ctx context.Context, t target, args []string, add func(string)) error {
		opts := metav1.ListOptions{}
		if len(args) > 0 {
			opts.LabelSelector = contract.LabelApp + "=" + args[0]
		}
		list, err := t.client.CoreV1().Pods(t.namespace).List(ctx, opts)
		if err != nil {
			return err
		}
		for i := range list.Items {
			for _, n := range names(&list.Items[i]) {
				add(n)
			}
		}
		return nil
	})
}

// podName is pod's name, as completePods takes it.
func podName(pod *corev1.Pod) []string { return []string{pod.Name} }

// podContainers are the names of pod's containers: init (native sidecars
// among them), then the others.
func podContainers(pod *corev1.Pod) []string {
	var out []string
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		out = append(out, c.Name)
	}
	return out
}

// completeGPUNodes completes kubectl zz gpu's nodes: those with a GPU
// inventory, but the ones named already, in every --context.
func completeGPUNodes(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return completeEach(f, func(ctx context.Context, t target, args []string, add func(string)) error {
		list, err := t.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, n := range list.Items {
			if _, ok := n.Annotations[contract.AnnotationNodeGPUInventory]; ok && !slices.Contains(args, n.Name) {
				add(n.Name)
			}
		}
		return nil
	})
}

// completeRevisions completes a revision flag (--revision, --to,
// --to-revision) with the recorded revisions of the app named first,
// newest first, each described by its version and change cause (several
// contexts: the revisions of each, once).
func completeRevisions(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		targets, err := resolveTargets(f, true, io.Discard)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []cobra.Completion
		seen := map[int64]bool{}
		for _, t := range targets {
			revs, err := deploy.Revisions(cmd.Context(), t.client, t.namespace, args[0])
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			for _, r := range revs {
				if !seen[r.Number] {
					seen[r.Number] = true
					out = append(out, cobra.CompletionWithDesc(strconv.FormatInt(r.Number, 10), r.Version+" "+r.ChangeCause))
				}
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
}

// completeNamespaces completes -n with the namespaces of every --context, as
// kubectl does.
func completeNamespaces(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return completeEach(f, func(ctx context.Context, t target, _ []string, add func(string)) error {
		list, err := t.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, ns := range list.Items {
			add(ns.Name)
		}
		return nil
	})
}

// completeContexts completes --context with the kubeconfig's contexts, and
// after a comma (a,b) the ones not named yet.
func completeContexts(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		raw, err := f.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		named, prefix := "", ""
		if i := strings.LastIndex(toComplete, ","); i >= 0 {
			named, prefix = toComplete[:i+1], toComplete[:i+1]
		}
		var out []cobra.Completion
		for _, name := range slices.Sorted(maps.Keys(raw.Contexts)) {
			if !slices.Contains(strings.Split(named, ","), name) {
				out = append(out, prefix+name)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeKubeconfig completes --cluster or --user with the names the
// kubeconfig has, as kubectl's own completion does.
func completeKubeconfig(f *genericclioptions.ConfigFlags, users bool) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		raw, err := f.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		names := slices.Sorted(maps.Keys(raw.Clusters))
		if users {
			names = slices.Sorted(maps.Keys(raw.AuthInfos))
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
