package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/version"
)

// VersionOptions is kubectl zz version: the plugin's build and, unless
// --client, what runs in each cluster (as kubectl version, linkerd version
// and istioctl version show the server side).
type VersionOptions struct {
	Client bool

	targets     []target
	print       *printFlags
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewCmdVersion returns "kubectl zz version".
func NewCmdVersion(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &VersionOptions{print: newPrintFlags(), configFlags: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the kubectl-zz version, and the Kubernetes and zz components each cluster runs",
		Long: `Print the kubectl-zz version and, for each cluster (--context a,b), the
Kubernetes version and the zz components installed there (the Deployments and
DaemonSets labelled app.kubernetes.io/part-of=zz: zz-scheduler with its extender,
zz-webhook, the device plugin), with their ready pods and images. A release
image whose tag differs from the plugin's is called out: the two speak one
contract (annotation names, formats). --client prints the plugin alone, without
reaching any cluster.`,
		Example: "  kubectl zz version\n  kubectl zz version --client\n  kubectl zz version -o json\n  kubectl zz version -o jsonpath='{.gitVersion}'",
		Args:    cobra.NoArgs,
		RunE:    runOptions(o),
	}
	cmd.Flags().BoolVar(&o.Client, "client", false, "Print the plugin's version alone; reach no cluster")
	o.print.addFlags(cmd)
	return cmd
}

// Complete connects to every --context, unless --client.
func (o *VersionOptions) Complete([]string) error {
	if o.Client {
		return nil
	}
	var err error
	o.targets, err = resolveTargets(o.configFlags, true, o.ErrOut)
	return err
}

// Validate checks the flags; it does no I/O.
func (o *VersionOptions) Validate() error { return o.print.validate() }

// versionItem is what -o prints: the plugin's build at the top level (so
// -o jsonpath='{.gitVersion}' reads it), and each cluster's side.
type versionItem struct {
	version.Info
	Clusters []clusterVersion `json:"clusters,omitempty"`
}

// clusterVersion is what one cluster runs.
type clusterVersion struct {
	Cluster           string `json:"cluster,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion"`
	// Components are zz's Deployments and DaemonSets; nil when none could
	// be listed. ComponentsError says why, also of a namespace not listed
	// beside those that were.
	Components      []component `json:"components"`
	ComponentsError string      `json:"componentsError,omitempty"`
}

// component is one zz workload in a cluster.
type component struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Kind      string   `json:"kind"`
	Ready     int32    `json:"ready"`
	Desired   int32    `json:"desired"`
	Images    []string `json:"images"`
}

// Run prints the versions. A cluster that cannot be reached fails the
// command (after the rest is printed), as kubectl version does; components
// the user may not list are said, not fatal.
func (o *VersionOptions) Run(cmd *cobra.Command) error {
	item := versionItem{Info: version.Get()}
	var errs []error
	for _, t := range o.targets {
		cv, err := clusterVersionOf(cmd.Context(), t.client)
		if err != nil {
			errs = append(errs, contextErr(t.context, fmt.Errorf("the cluster's version: %w", err)))
			continue
		}
		if len(o.targets) > 1 {
			cv.Cluster = t.name
		}
		item.Clusters = append(item.Clusters, cv)
	}
	if !o.print.table() {
		u, err := printable(contract.OutputKindVersion, "kubectl-zz", item)
		if err != nil {
			return err
		}
		if err := o.print.print(o.Out, u); err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	if err := writeVersion(o.Out, o.ErrOut, item, o.print.wide()); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// clusterVersionOf reads the Kubernetes version and zz's workloads: every
// namespace's, or, without the right to list them cluster-wide, those of
// contract.SystemNamespace and contract.DevicePluginNamespace the user may list.
func clusterVersionOf(ctx context.Context, c kubernetes.Interface) (clusterVersion, error) {
	sv, err := c.Discovery().ServerVersion()
	if err != nil {
		return clusterVersion{}, err
	}
	cv := clusterVersion{KubernetesVersion: sv.GitVersion, Components: []component{}}
	comps, err := components(ctx, c, metav1.NamespaceAll)
	if !apierrors.IsForbidden(err) {
		if err != nil {
			cv.Components, cv.ComponentsError = nil, err.Error()
		} else {
			cv.Components = comps
		}
		return cv, nil
	}
	// Where manifests/ installs them, each namespace as far as the user may
	// list it (a docs audit: the device plugin's namespace was never read).
	// Each error says which namespace it is: a developer who may read
	// zz-system but not the device plugin's is told that, not that the zz
	// components cannot be listed.
	namespaces := []struct{ name, what string }{
		{contract.SystemNamespace, "zz's namespace"},
		{contract.DevicePluginNamespace, "the device plugin's namespace"},
	}
	var errs []string
	for _, ns := range namespaces {
		got, err := components(ctx, c, ns.name)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s %s is not readable: %v", ns.what, ns.name, err))
			continue
		}
		cv.Components = append(cv.Components, got...)
	}
	cv.ComponentsError = strings.Join(errs, "; ")
	if len(errs) == len(namespaces) {
		cv.Components = nil // none listed, as when the list fails cluster-wide
	}
	return cv, nil
}

// components lists zz's Deployments and DaemonSets in ns (every namespace
// for metav1.NamespaceAll): those labelled as zz's in one of
// contract.InstallNamespaces, where a tenant's look-alike cannot be.
func components(ctx context.Context, c kubernetes.Interface, ns string) ([]component, error) {
	opts := metav1.ListOptions{LabelSelector: contract.LabelK8sPartOf + "=" + contract.PartOf}
	deps, err := c.AppsV1().Deployments(ns).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	dss, err := c.AppsV1().DaemonSets(ns).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	out := []component{}
	zz := func(o metav1.Object) bool { return slices.Contains(contract.InstallNamespaces(), o.GetNamespace()) }
	deps.Items = slices.DeleteFunc(deps.Items, func(d appsv1.Deployment) bool { return !zz(&d) })
	dss.Items = slices.DeleteFunc(dss.Items, func(d appsv1.DaemonSet) bool { return !zz(&d) })
	for _, d := range deps.Items {
		out = append(out, component{Namespace: d.Namespace, Name: d.Name, Kind: "Deployment", Ready: d.Status.ReadyReplicas,
			Desired: deploymentDesired(&d), Images: images(d.Spec.Template.Spec)})
	}
	for _, d := range dss.Items {
		out = append(out, component{Namespace: d.Namespace, Name: d.Name, Kind: "DaemonSet", Ready: d.Status.NumberReady,
			Desired: d.Status.DesiredNumberScheduled, Images: images(d.Spec.Template.Spec)})
	}
	slices.SortFunc(out, func(a, b component) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

func deploymentDesired(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// images are a pod spec's container images, init containers first.
func images(spec corev1.PodSpec) []string {
	var out []string
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		out = append(out, c.Image)
	}
	return out
}

// releaseTag matches a release version (v1.2.3), not a development build
// (v0.0.0-dev, v1.2.3-4-gabcdef) nor latest.
var releaseTag = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)

// skew returns the zz images (zzcloud/zz-*) of a release tag other than
// client's, when client is a release itself.
func skew(client string, comps []component) []string {
	if !releaseTag.MatchString(client) {
		return nil
	}
	var out []string
	for _, c := range comps {
		for _, img := range c.Images {
			if tag, ok := zzImageTag(img); ok && releaseTag.MatchString(tag) && tag != client {
				out = append(out, img)
			}
		}
	}
	return out
}

// zzImageTag reports whether img is one of zz's own images (a repository
// named zz-*), and its tag ("" without one), digest aside.
func zzImageTag(img string) (tag string, ok bool) {
	img, _, _ = strings.Cut(img, "@")
	repo := img
	if i := strings.LastIndexByte(img, ':'); i > strings.LastIndexByte(img, '/') {
		repo, tag = img[:i], img[i+1:]
	}
	return tag, strings.HasPrefix(repo[strings.LastIndexByte(repo, '/')+1:], "zz-")
}

// writeVersion prints the plugin's line and, per cluster, its version and
// components as a table; wide adds every image of each component.
func writeVersion(out, errOut io.Writer, item versionItem, wide bool) error {
	info := item.Info
	if _, err := fmt.Fprintf(out, "kubectl-zz %s (commit %s, %s, %s)\n", info.GitVersion, info.GitCommit, info.GoVersion, info.Platform); err != nil {
		return err
	}
	for _, cv := range item.Clusters {
		where := "Cluster"
		if cv.Cluster != "" {
			where = "Cluster " + cv.Cluster
		}
		fmt.Fprintf(out, "%s: Kubernetes %s\n", where, cv.KubernetesVersion)
		switch {
		case cv.ComponentsError != "" && cv.Components == nil:
			fmt.Fprintf(errOut, "warning: %s: cannot list the zz components: %s\n", strings.ToLower(where), cv.ComponentsError)
		case cv.ComponentsError != "":
			// Some were listed: the error is the namespace that was not.
			fmt.Fprintf(errOut, "warning: %s: %s\n", strings.ToLower(where), cv.ComponentsError)
		}
		switch {
		case len(cv.Components) == 0 && cv.ComponentsError != "":
			continue
		case len(cv.Components) == 0:
			fmt.Fprintln(out, "  no zz components installed (no Deployment or DaemonSet labelled "+contract.LabelK8sPartOf+"="+contract.PartOf+" in "+strings.Join(contract.InstallNamespaces(), " or ")+")")
			continue
		}
		tbl := newTable("NAMESPACE", "NAME", "KIND", "READY", "IMAGES")
		for _, c := range cv.Components {
			imgs := c.Images
			if !wide {
				imgs = zzImages(imgs)
			}
			tbl.add("", c.Namespace, c.Name, c.Kind, fmt.Sprintf("%d/%d", c.Ready, c.Desired), strings.Join(imgs, ","))
		}
		var b strings.Builder
		if err := tbl.print(&b, false); err != nil {
			return err
		}
		for _, l := range strings.SplitAfter(strings.TrimRight(b.String(), "\n"), "\n") {
			fmt.Fprint(out, "  "+l)
		}
		fmt.Fprintln(out)
		for _, img := range skew(info.GitVersion, cv.Components) {
			fmt.Fprintf(errOut, "warning: %s runs %s, kubectl-zz is %s: the plugin and the components share one contract (annotation names and formats); use the same release\n",
				strings.ToLower(where), img, info.GitVersion)
		}
	}
	return nil
}

// zzImages keeps zz's own images (zz-*), or all when there is none.
func zzImages(imgs []string) []string {
	var out []string
	for _, img := range imgs {
		if _, ok := zzImageTag(img); ok {
			out = append(out, img)
		}
	}
	if len(out) == 0 {
		return imgs
	}
	return out
}
