package cmd

import (
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/zzcloud/zz/internal/contract"
)

// completeApps completes the first argument with the names of the apps
// kubectl zz deployed in the namespace (their Deployments).
func completeApps(f genericclioptions.RESTClientGetter) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ns, _, err := f.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		client, err := newClient(f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		list, err := client.AppsV1().Deployments(ns).List(cmd.Context(), metav1.ListOptions{
			LabelSelector: contract.LabelK8sManagedBy + "=" + contract.ManagedBy,
		})
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []cobra.Completion
		for _, d := range list.Items {
			if app := d.Labels[contract.LabelApp]; app != "" {
				names = append(names, app)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
