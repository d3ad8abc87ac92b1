package cli

import (
	"slices"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// completeApps completes the first argument with the names of the apps
// kubectl zz deployed in the namespace, in every --context (their
// Deployments; a canary's Deployment carries its app's name).
func completeApps(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		targets, err := resolveTargets(f, true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []cobra.Completion
		for _, t := range targets {
			list, err := t.client.AppsV1().Deployments(t.namespace).List(cmd.Context(), metav1.ListOptions{
				LabelSelector: contract.LabelK8sManagedBy + "=" + contract.ManagedBy,
			})
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			for _, d := range list.Items {
				if app := d.Labels[contract.LabelApp]; app != "" && !slices.Contains(names, app) {
					names = append(names, app)
				}
			}
		}
		slices.Sort(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeWaitingGPUPods completes kubectl zz gpu --fit with pod/NAME for
// the namespace's pods that ask for GPU memory and wait for a node, in
// every --context.
func completeWaitingGPUPods(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		targets, err := resolveTargets(f, true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []cobra.Completion
		for _, t := range targets {
			list, err := t.client.CoreV1().Pods(t.namespace).List(cmd.Context(), metav1.ListOptions{FieldSelector: "spec.nodeName="})
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			for i := range list.Items {
				p := &list.Items[i]
				if _, err := gpushare.PodRequest(p); err == nil && p.Spec.NodeName == "" && !slices.Contains(names, "pod/"+p.Name) {
					names = append(names, "pod/"+p.Name)
				}
			}
		}
		slices.Sort(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// completePodNodes completes kubectl zz logs --node with the nodes that run
// the app's pods (args[0]), or every node without an app, in every
// --context.
func completePodNodes(f *genericclioptions.ConfigFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		targets, err := resolveTargets(f, true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []cobra.Completion
		add := func(name string) {
			if name != "" && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		for _, t := range targets {
			if len(args) == 0 {
				list, err := t.client.CoreV1().Nodes().List(cmd.Context(), metav1.ListOptions{})
				if err != nil {
					return nil, cobra.ShellCompDirectiveError
				}
				for _, n := range list.Items {
					add(n.Name)
				}
				continue
			}
			list, err := t.client.CoreV1().Pods(t.namespace).List(cmd.Context(), metav1.ListOptions{LabelSelector: contract.LabelApp + "=" + args[0]})
			if err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
			for _, p := range list.Items {
				add(p.Spec.NodeName)
			}
		}
		slices.Sort(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
