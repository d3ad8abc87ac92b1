package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/prose"
	"github.com/zzcloud/zz/internal/specfrom"
)

// InitOptions is kubectl zz init --from deployment/NAME: the app spec of
// what a Deployment (and its Service, Ingress, HPA, PDB) already runs.
type InitOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
	From, Name string
	print      *printFlags
	target     target
	deployment string
	// nameGiven: --name was given (checked before any read); the
	// Deployment's own name is said as a warning with the spec's others.
	nameGiven bool
}

// NewCmdInit returns "kubectl zz init".
func NewCmdInit(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &InitOptions{configFlags: f, IOStreams: streams, print: newPrintFlags()}
	o.print.noWide = true
	// The spec file has no metadata.name for -o name to print (it printed
	// app.zz.io/<unknown>: an audit).
	o.print.noName = true
	cmd := &cobra.Command{
		Use:   "init --from deployment/NAME [--name APP]",
		Short: "Write the app spec of a Deployment that runs already (to move it to kubectl zz)",
		Long: `Print the app spec (zz.yaml) that renders what a Deployment, and the Service,
Ingress, HorizontalPodAutoscaler and PodDisruptionBudget around it, run now: an
app deployed with kubectl apply or Helm moves to kubectl zz without its spec
written by hand. What the spec cannot say is listed on stderr; review the spec,
see what the move would change with kubectl zz deploy --diff --adopt, then
deploy with --adopt.`,
		Example: `  kubectl zz init --from deployment/shop -n shop > zz.yaml
  kubectl zz deploy -f zz.yaml -n shop --adopt --diff
  kubectl zz deploy -f zz.yaml -n shop --adopt`,
		Args: cobra.NoArgs,
		RunE: runOptions(o),
	}
	cmd.Flags().StringVar(&o.From, "from", "", "The Deployment to read: deployment/NAME (or NAME)")
	_ = cmd.RegisterFlagCompletionFunc("from", completeDeployments(f))
	cmd.Flags().StringVar(&o.Name, "name", "", "The app's name (default: the Deployment's)")
	o.print.addFlags(cmd)
	return cmd
}

// Complete connects to the cluster (one context).
func (o *InitOptions) Complete(_ []string) error {
	name := o.From
	if kind, n, ok := strings.Cut(o.From, "/"); ok && slices.Contains(deploymentKinds, kind) {
		name = n
	}
	o.deployment = name
	o.nameGiven = o.Name != ""
	if o.Name == "" {
		o.Name = name
	}
	targets, err := resolveTargets(o.configFlags, true, o.ErrOut)
	if err != nil {
		return err
	}
	if len(targets) != 1 {
		return errors.New("init reads one cluster: give one --context")
	}
	o.target = targets[0]
	if o.print.OutputFormat == nil || *o.print.OutputFormat == "" {
		yaml := "yaml"
		o.print.OutputFormat = &yaml
	}
	return nil
}

// Validate checks the flags; no I/O.
func (o *InitOptions) Validate() error {
	if o.deployment == "" || strings.Contains(o.deployment, "/") {
		return fmt.Errorf("--from %q: give the Deployment to read, e.g. --from deployment/shop", o.From)
	}
	if o.nameGiven {
		// The user's flag, refused as deploy would refuse the spec (it
		// printed a spec deploy refuses, exit 0: an audit).
		if err := appspec.CheckName("--name", "", o.Name); err != nil {
			return err
		}
	}
	// Before the cluster is read, as every printing command (a bad -o was
	// found after every read and warning: an audit).
	return o.print.validate()
}

// Run reads the Deployment and what belongs to it and prints the spec.
func (o *InitOptions) Run(cmd *cobra.Command) error {
	live, err := o.read(cmd.Context())
	if err != nil {
		return err
	}
	// A spec that would bypass an auth proxy is not printed at all: a
	// warning among others is read as a note (an audit).
	if err := specfrom.Refusal(o.Name, live); err != nil {
		return err
	}
	app, notes := specfrom.Spec(o.Name, live)
	// Notes and warnings quote the namespace's objects (a mount path, an
	// image): escaped, as table cells are.
	for _, n := range notes {
		fmt.Fprintln(o.ErrOut, "warning: not carried over: "+prose.Terminal(n))
	}
	// What validation would refuse, said now rather than at deploy.
	check := app.Clone()
	check.Default()
	for _, e := range check.Validate("the spec") {
		fmt.Fprintln(o.ErrOut, "warning: "+prose.Terminal(e.Error()))
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(app)
	if err != nil {
		return err
	}
	if d := live.Deployment; d.Labels[contract.LabelK8sManagedBy] == contract.ManagedBy && d.Labels[contract.LabelApp] != "" {
		// Its own app: nothing to adopt, and its record holds the spec
		// it was deployed from (an app-developer audit was sent to
		// deploy --adopt).
		app := d.Labels[contract.LabelApp]
		fmt.Fprintf(o.ErrOut, "note: deployment %s is app %s, deployed by kubectl zz: kubectl zz history %s -n %s --spec prints the spec it was deployed from\n", d.Name, app, app, o.target.namespace)
	} else {
		fmt.Fprintf(o.ErrOut, "review it, then: kubectl zz deploy -f zz.yaml -n %s --adopt --diff\n", o.target.namespace)
	}
	return o.print.print(o.Out, &unstructured.Unstructured{Object: m})
}

// read gets the Deployment and the objects that belong to it: the Service
// selecting its pods (the one of its name first), the Ingress sending to
// that Service, the HPA scaling it, a PDB selecting its pods. Kinds the
// user may not list are left out.
func (o *InitOptions) read(ctx context.Context) (specfrom.Live, error) {
	c, ns := o.target.client, o.target.namespace
	d, err := c.AppsV1().Deployments(ns).Get(ctx, o.deployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return specfrom.Live{}, fmt.Errorf("no deployment %s in namespace %s", o.deployment, ns)
	} else if err != nil {
		return specfrom.Live{}, err
	}
	live := specfrom.Live{Deployment: d}
	podLabels := labels.Set(d.Spec.Template.Labels)
	if svcs, err := c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{}); err == nil {
		live.Service = serviceOf(svcs.Items, d.Name, podLabels)
	}
	if live.Service != nil {
		if ings, err := c.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{}); err == nil {
			live.Ingress = ingressOf(ings.Items, live.Service.Name)
		}
	}
	if hpas, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for i := range hpas.Items {
			if ref := hpas.Items[i].Spec.ScaleTargetRef; ref.Kind == "Deployment" && ref.Name == d.Name {
				live.HPA = &hpas.Items[i]
			}
		}
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		if cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{}); err == nil {
			if live.ConfigMaps == nil {
				live.ConfigMaps = map[string]*corev1.ConfigMap{}
			}
			live.ConfigMaps[cm.Name] = cm
		}
	}
	if pdbs, err := c.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pdbs.Items {
			if sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(podLabels) {
				live.PDB = &p
			}
		}
	}
	return live, nil
}

// serviceOf is the Service of name selecting the pods, else the first that
// selects them.
func serviceOf(svcs []corev1.Service, name string, pods labels.Set) *corev1.Service {
	var found *corev1.Service
	for i := range svcs {
		s := &svcs[i]
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(pods) {
			continue
		}
		if s.Name == name {
			return s
		}
		if found == nil {
			found = s
		}
	}
	return found
}

// ingressOf is the first Ingress with a path to service.
func ingressOf(ings []networkingv1.Ingress, service string) *networkingv1.Ingress {
	for i := range ings {
		for _, r := range ings[i].Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				if p.Backend.Service != nil && p.Backend.Service.Name == service {
					return &ings[i]
				}
			}
		}
	}
	return nil
}
