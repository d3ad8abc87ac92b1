package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/prose"
	"github.com/zzcloud/zz/internal/render"
)

const deployExample = `  # Deploy the app described in ./zz.yaml and wait until it is ready
  kubectl zz deploy

  # Deploy a new image of the app in shop.yaml, giving up after two minutes
  kubectl zz deploy -f shop.yaml --image registry.local/shop:1.5.0 --timeout 2m --rollback-on-failure

  # Deploy without a file
  kubectl zz deploy --name shop --type web --image registry.local/shop:1.5.0 --replicas 3

  # The spec from another tool, on stdin
  envsubst < zz.yaml.tmpl | kubectl zz deploy -f -

  # Print the objects instead of applying them
  kubectl zz deploy --dry-run

  # Show what a deploy would change in the cluster
  kubectl zz deploy --diff --image registry.local/shop:1.5.0`

// DeployOptions is kubectl zz deploy.
type DeployOptions struct {
	Filenames         []string
	Sets              []string
	Adopt             bool
	Canary            string
	Name              string
	Type              string
	Image             string
	Version           string
	Replicas          int32
	DryRun            bool
	Diff              bool
	Output            string
	Debug             bool
	RollbackOnFailure bool
	ChangeCause       string
	rolloutFlags

	// Set by Complete.
	files   []appspec.Source
	file    string
	targets []target
	canary  *deploy.CanaryShare
	// Set by Validate: the app, and as given (files, --set and flags
	// merged, before the defaults), which the revision records.
	app, given *appspec.App
	// layered are the warnings of merging the files and --set values: the
	// entries of a list a later one replaced whole.
	layered []string

	replicasSet bool
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewCmdDeploy returns "kubectl zz deploy".
func NewCmdDeploy(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DeployOptions{configFlags: f, IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "deploy [-f zz.yaml]",
		Short:   "Deploy an app from its spec and wait until it is ready",
		Example: deployExample,
		Args:    deployArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.replicasSet = cmd.Flags().Changed("replicas")
			if err := o.Complete(cmd.Context()); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Filenames, "filename", "f", nil, "App spec file, URL or - for stdin (default zz.yaml, unless --name describes the app in flags); repeat to merge per-environment files in order (-f zz.yaml -f prod.yaml)")
	fl.StringArrayVar(&o.Sets, "set", nil, "Set a spec field after the files, as path=value (--set spec.replicas=5; a backslash makes '.', '[', ']', '=' or itself part of a key, as Helm's --set: spec.annotations.prometheus\\.io/port=7070); repeatable")
	fl.BoolVar(&o.Adopt, "adopt", false, "Take over existing objects of the app's names that kubectl zz did not create (default: refuse, naming them)")
	fl.StringVar(&o.Canary, "canary", "", "Run the new version as <app>-canary next to the stable Deployment, behind the same Service: N pods or N% of the stable ones; kubectl zz promote or abort ends it")
	fl.StringVar(&o.Name, "name", "", "App name, without a spec file")
	fl.StringVar(&o.Type, "type", "", "App type without a spec file: java, web, rpc or worker")
	fl.StringVar(&o.Image, "image", "", "Image to deploy, overriding the spec's (its tag becomes the version unless --version is set)")
	fl.StringVar(&o.Version, "version", "", "Version label, overriding the spec's")
	fl.Int32Var(&o.Replicas, "replicas", 0, "Replicas, overriding the spec's")
	addDryRun(fl, &o.DryRun, "Print the rendered objects and send nothing to the cluster", "--diff dry-runs the apply on the server (webhooks and admission policies included) and shows what it would change")
	fl.BoolVar(&o.Diff, "diff", false, "Show what the deploy would change (server-side dry run) and change nothing")
	fl.StringVarP(&o.Output, "output", "o", "", "With --dry-run: the objects as yaml (default) or json. Otherwise, once deployed: the app as kubectl zz status -o prints it (json, yaml, name, jsonpath=..., go-template=...) instead of one line per cluster")
	fl.BoolVar(&o.Debug, "debug", false, "Deploy WITHOUT readiness and liveness probes, to inspect a failing app in place (not more output: kubectl zz status says the app runs without probes; deploy without it to bring them back)")
	o.addFlags(fl)
	o.addWaitFlag(fl)
	fl.BoolVar(&o.RollbackOnFailure, "rollback-on-failure", false, "Restore the last good revision if the rollout fails")
	fl.StringVar(&o.ChangeCause, "change-cause", "", "Why, recorded with the revision as history's CHANGE-CAUSE (default: deploy VERSION and the spec fields changed)")
	_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"java", "web", "rpc", "worker"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(resultFormats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}

// Complete reads the spec file (a URL's until ctx ends: Ctrl-C), the
// namespace and, unless --dry-run, builds the client.
func (o *DeployOptions) Complete(ctx context.Context) error {
	names := o.Filenames
	if len(names) == 0 && o.Name == "" {
		names = []string{appspec.DefaultFile}
	}
	if i := slices.Index(names, "-"); i >= 0 && slices.Contains(names[i+1:], "-") {
		return errors.New("-f - reads the spec from stdin, which can be read once: give it once")
	}
	for _, name := range names {
		data, err := readSpec(ctx, name, o.In)
		if errors.Is(err, os.ErrNotExist) && len(o.Filenames) == 0 {
			return fmt.Errorf("no %s here: pass -f FILE, or describe the app with --name, --type and --image", appspec.DefaultFile)
		}
		if err != nil {
			return err
		}
		o.files = append(o.files, appspec.Source{Name: specName(name), Data: data})
	}
	o.file = "flags"
	if len(names) > 0 {
		o.file = specName(names[0])
	}
	if o.Canary != "" {
		share, err := deploy.ParseCanaryShare(o.Canary)
		if err != nil {
			return err
		}
		o.canary = &share
	}
	var err error
	o.targets, err = resolveTargets(o.configFlags, !o.DryRun, o.ErrOut)
	return err
}

// Validate decodes and checks the spec with the flag overrides; no I/O.
func (o *DeployOptions) Validate() error {
	if o.DryRun && o.Diff {
		return errors.New("--dry-run and --diff exclude each other: --dry-run prints the objects offline, --diff asks the cluster what would change")
	}
	switch {
	case o.DryRun && o.Output == "":
		o.Output = "yaml"
	case o.DryRun && o.Output != "yaml" && o.Output != "json":
		return fmt.Errorf("--output of --dry-run must be 'yaml' or 'json', got %q", o.Output)
	case o.Diff && o.Output != "":
		return errors.New("--diff prints a diff: drop --output")
	case !o.DryRun:
		o.result.format = o.Output
	}
	if err := o.validate(); err != nil {
		return err
	}
	if o.canary != nil && (o.DryRun || o.Diff) {
		return errors.New("--canary deploys; it does not go with --dry-run or --diff")
	}
	if o.RollbackOnFailure && o.noWait() {
		return errors.New("--rollback-on-failure acts on the rollout's outcome, which --wait=false does not wait for: drop one of them")
	}
	files := o.files
	if len(files) > 0 {
		if o.Name != "" || o.Type != "" {
			return fmt.Errorf("--name and --type describe an app without a file; edit %s instead", o.file)
		}
	} else {
		// An app described in flags is a file of its own, so --set applies.
		b, err := json.Marshal(map[string]any{"name": o.Name, "spec": map[string]string{"type": o.Type}})
		if err != nil {
			return err
		}
		files = []appspec.Source{{Name: "flags", Data: b}}
	}
	// Every problem of every file and --set at once: DecodeLayers leaves out
	// what does not decode, and Validate reports it with the wrong values.
	layers, err := appspec.DecodeLayers(files, o.Sets)
	if err != nil {
		return err
	}
	if o.Image != "" {
		layers.SetImage(o.Image)
	}
	if o.Version != "" {
		layers.SetVersion(o.Version)
	}
	if o.replicasSet {
		layers.SetReplicas(o.Replicas)
	}
	app := layers.App
	o.given = app.Clone() // before the defaults: what the revision records
	if errs := layers.Validate(); len(errs) > 0 {
		return errs
	}
	o.app = app
	o.layered = layers.Warnings()
	return nil
}

// deployArgs refuses an argument with the form that works: the spec names
// the app. A Helm user's deploy NAME (helm install NAME) and a kubectl
// user's deploy FILE got cobra's "unknown command" (an app-developer
// audit).
func deployArgs(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) > 1:
		return fmt.Errorf("deploy takes no argument, got %d (%s): the spec names the app; usage: %s", len(args), strings.Join(args, " "), cmd.UseLine())
	case len(args) == 0:
		return nil
	}
	arg := args[0]
	if _, err := os.Stat(arg); err == nil || arg == "-" || strings.ContainsAny(arg, "/\\") ||
		slices.ContainsFunc([]string{".yaml", ".yml", ".json"}, func(ext string) bool { return strings.HasSuffix(strings.ToLower(arg), ext) }) {
		return fmt.Errorf("deploy takes the spec with -f: kubectl zz deploy -f %s", arg)
	}
	return fmt.Errorf("deploy takes no app name (%q): the spec names the app (name: %s in zz.yaml, or -f FILE); without a file: kubectl zz deploy --name %s --type TYPE --image IMAGE", arg, arg, arg)
}

// specWarnings are what the spec asks that will not happen as written:
// said on stderr, the deploy goes on (as kubectl's warnings).
func (o *DeployOptions) specWarnings() []string {
	w := slices.Clone(o.layered)
	s := o.app.Spec
	if m := mutableTag("image", s.Image); m != "" {
		w = append(w, m)
	}
	for i, sc := range s.Sidecars { // a sidecar's image is as much the revision's
		if m := mutableTag(fmt.Sprintf("spec.sidecars[%d].image", i), sc.Image); m != "" {
			w = append(w, m)
		}
	}
	if m := decimalMemory("spec.memory", s.Memory); m != "" {
		w = append(w, m)
	}
	for i, sc := range s.Sidecars {
		if m := decimalMemory(fmt.Sprintf("spec.sidecars[%d].memory", i), sc.Memory); m != "" {
			w = append(w, m)
		}
	}
	w = append(w, s.SidecarMemoryScratch()...)
	w = append(w, s.SidecarWarnings()...)
	if g := s.GraceWithinDrain(); g != "" {
		w = append(w, g)
	}
	if sc, _, ok := s.Front(); ok && len(s.Ports) > 0 {
		// Only the main port goes through the proxy (a review): an admin
		// port beside it is served past the auth.
		var names []string
		for _, p := range s.Ports {
			names = append(names, p.Name)
		}
		w = append(w, fmt.Sprintf("spec.ports %s go to the app directly, past sidecar %s in front of it: the Service serves them without the proxy; list in spec.ports only what needs no auth", strings.Join(names, ", "), sc))
	}
	if s.HPA != nil && o.given.Spec.Replicas != nil {
		w = append(w, fmt.Sprintf("spec.replicas %d is ignored: spec.hpa sets the replicas (%d to %d); raise hpa.min for more", *o.given.Spec.Replicas, s.HPA.Min, s.HPA.Max))
	}
	return w
}

// decimalMemory is the warning for a memory quantity (field names it) in
// Kubernetes' decimal units, 512M, where the binary 512Mi is what a
// Kubernetes user almost always means ("" for any other): valid, so not
// refused, but 24 MiB short and unsaid (an app-developer audit).
func decimalMemory(field, value string) string {
	units := map[string]struct{ power, decimal, binary string }{
		"k": {"1000", "kilobytes", "kibibytes"}, "M": {"1000²", "megabytes", "mebibytes"}, "G": {"1000³", "gigabytes", "gibibytes"},
		"T": {"1000⁴", "terabytes", "tebibytes"}, "P": {"1000⁵", "petabytes", "pebibytes"}, "E": {"1000⁶", "exabytes", "exbibytes"},
	}
	number, unit := value[:max(0, len(value)-1)], value[max(0, len(value)-1):]
	u, ok := units[unit]
	q, err := resource.ParseQuantity(value)
	if !ok || err != nil || number == "" || strings.Trim(number, "0123456789") != "" {
		return ""
	}
	bin := strings.ToUpper(unit) + "i"
	in, shift := "Mi", 20
	if unit == "k" {
		in, shift = "Ki", 10
	}
	return fmt.Sprintf("%s: %s is %s %s (%d%s), not %s%s: Kubernetes' %s is %s, %s 1024%s; write %s%s if %s were meant",
		field, value, number, u.decimal, q.Value()>>shift, in, number, bin, unit, u.power, bin, strings.TrimPrefix(u.power, "1000"), number, bin, u.binary)
}

// mutableTag is the warning for an image (field names it) whose tag is
// latest or none, "" for a pinned one.
func mutableTag(field, image string) string {
	if render.PullPolicy(image) != corev1.PullAlways {
		return ""
	}
	tag := appspec.ImageTag(image)
	return fmt.Sprintf("%s %s has a mutable tag (%s): a deploy of the same spec changes nothing after the tag moves, and a rollback cannot bring back the image an older revision ran; pin a version tag or a digest (kubectl zz restart pulls the tag again)",
		field, image, cmp.Or(tag, "none, so latest"))
}

// missingRefs says which objects the spec names are not in t's namespace,
// and what each absence does: the pods would wait on a Secret or ConfigMap
// of their env (CreateContainerConfigError), or on their ServiceAccount (no
// pod is created), after the rollout began. One the user may not read is
// not judged.
func (o *DeployOptions) missingRefs(ctx context.Context, t target) []string {
	type ref struct {
		kind, name, field, then string
		key                     string // a Secret key that must be there
	}
	const blocks = "the pods will not start until it does"
	var refs []ref
	s := o.app.Spec
	envs := map[string]map[string]appspec.SecretKey{"spec.secretEnv": s.SecretEnv}
	files := map[string][]appspec.SecretFile{"spec.secretFiles": s.SecretFiles}
	for i, sc := range s.Sidecars { // a sidecar's own Secrets block the pod as the app's do
		envs[fmt.Sprintf("spec.sidecars[%d].secretEnv", i)] = sc.SecretEnv
		files[fmt.Sprintf("spec.sidecars[%d].secretFiles", i)] = sc.SecretFiles
	}
	for _, list := range slices.Sorted(maps.Keys(envs)) {
		for _, k := range slices.Sorted(maps.Keys(envs[list])) {
			refs = append(refs, ref{kind: "secret", name: envs[list][k].Secret, field: list + "." + k, then: blocks, key: envs[list][k].Key})
		}
	}
	for i, e := range s.EnvFrom {
		if e.Secret != "" {
			refs = append(refs, ref{kind: "secret", name: e.Secret, field: fmt.Sprintf("spec.envFrom[%d]", i), then: blocks})
		} else {
			refs = append(refs, ref{kind: "configmap", name: e.ConfigMap, field: fmt.Sprintf("spec.envFrom[%d]", i), then: blocks})
		}
	}
	for i, name := range s.ImagePullSecrets {
		refs = append(refs, ref{kind: "secret", name: name, field: fmt.Sprintf("spec.imagePullSecrets[%d]", i),
			then: "the image is pulled without it, which a private registry refuses (ErrImagePull)"})
	}
	for _, list := range slices.Sorted(maps.Keys(files)) {
		for i, f := range files[list] {
			field := fmt.Sprintf("%s[%d]", list, i)
			refs = append(refs, ref{kind: "secret", name: f.Secret, field: field, then: blocks})
			for _, k := range f.Keys {
				refs = append(refs, ref{kind: "secret", name: f.Secret, field: field, then: blocks, key: k})
			}
		}
	}
	if s.ServiceAccount != "" {
		refs = append(refs, ref{kind: "serviceaccount", name: s.ServiceAccount, field: "spec.serviceAccount", then: "no pod is created until it does"})
	}
	if s.Ingress != nil && s.Ingress.TLSSecret != "" {
		refs = append(refs, ref{kind: "secret", name: s.Ingress.TLSSecret, field: "spec.ingress.tlsSecret",
			then: "the ingress controller serves its default certificate until it does (cert-manager issues it when the Ingress's annotations ask)"})
	}
	var out []string
	secrets := map[string]*corev1.Secret{}
	seen := map[string]bool{}
	for _, r := range refs {
		var err error
		switch {
		case r.kind == "secret" && secrets[r.name] != nil:
		case seen[r.kind+"/"+r.name]:
			continue
		case r.kind == "secret":
			var sec *corev1.Secret
			if sec, err = t.client.CoreV1().Secrets(t.namespace).Get(ctx, r.name, metav1.GetOptions{}); err == nil {
				secrets[r.name] = sec
			}
		case r.kind == "configmap":
			_, err = t.client.CoreV1().ConfigMaps(t.namespace).Get(ctx, r.name, metav1.GetOptions{})
		default:
			_, err = t.client.CoreV1().ServiceAccounts(t.namespace).Get(ctx, r.name, metav1.GetOptions{})
		}
		seen[r.kind+"/"+r.name] = true
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, fmt.Sprintf("%s %q (%s) does not exist in namespace %s: %s (kubectl create %s ... -n %s)",
				r.kind, r.name, r.field, t.namespace, r.then, r.kind, t.namespace))
		case err == nil && r.key != "" && secrets[r.name] != nil:
			if _, ok := secrets[r.name].Data[r.key]; !ok {
				out = append(out, fmt.Sprintf("secret %q has no key %q (%s): %s (kubectl get secret %s -n %s -o yaml lists its keys)",
					r.name, r.key, r.field, blocks, r.name, t.namespace))
			}
		}
	}
	return out
}

// Run prints (--dry-run) or deploys the app.
func (o *DeployOptions) Run(cmd *cobra.Command) error {
	// Warnings may quote a spec that init --from took from a namespace,
	// or a node's labels: escaped, as table cells.
	for _, w := range o.specWarnings() {
		fmt.Fprintln(o.ErrOut, "warning: "+prose.Terminal(w))
	}
	if o.DryRun {
		return printObjects(render.Render(o.app, render.Options{Namespace: o.targets[0].namespace, Debug: o.Debug}), o.Output, o.Out)
	}
	if o.Diff {
		return o.diff(cmd)
	}
	if o.Debug {
		// Helm's --debug means more output; this one changes the app.
		fmt.Fprintf(o.ErrOut, "warning: --debug deploys %s without readiness or liveness probes: Ready will say only that its containers started, and a hung process is not restarted; deploy without --debug to bring them back\n", o.app.Name)
	}
	err := forEach(cmd.Context(), o.targets, o.ErrOut, func(t target, progress io.Writer, live bool) error {
		for _, w := range o.missingRefs(cmd.Context(), t) {
			fmt.Fprintln(progress, "warning: "+prose.Terminal(w))
		}
		for _, w := range []string{o.zoneWarning(cmd.Context(), t), o.poolWarning(cmd.Context(), t), o.ingressWarning(cmd.Context(), t)} {
			if w != "" {
				fmt.Fprintln(progress, "warning: "+prose.Terminal(w))
			}
		}
		cfg := &deploy.Config{
			Options: o.options(t, progress, live),
			App:     o.app, Given: o.given, Debug: o.Debug, ChangeCause: o.ChangeCause, RollbackOnFailure: o.RollbackOnFailure, Adopt: o.Adopt,
		}
		what := "deployed"
		run := deploy.Run
		if o.canary != nil {
			what = "canary deployed"
			run = func(ctx context.Context, c kubernetes.Interface, cfg *deploy.Config) (*deploy.Result, error) {
				return deploy.RunCanary(ctx, c, cfg, *o.canary)
			}
		}
		res, err := run(cmd.Context(), t.client, cfg)
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("%s %s %s as revision %d in %s", o.app.Name, o.app.Spec.Version, what, res.Revision, where(t))
		switch {
		case res.Unchanged && o.noWait():
			// Maybe still rolling out: the latest revision is this spec.
			msg = o.waited(fmt.Sprintf("%s %s unchanged: revision %d is it already in %s (nothing applied or recorded)", o.app.Name, o.app.Spec.Version, res.Revision, where(t)), o.app.Name, "", t)
		case res.Unchanged:
			as := ""
			if o.canary != nil {
				as = " as its canary"
			}
			msg = fmt.Sprintf("%s %s unchanged: revision %d runs it already%s in %s (nothing applied or recorded)", o.app.Name, o.app.Spec.Version, res.Revision, as, where(t))
		default:
			msg = o.waited(msg, o.app.Name, "", t)
		}
		if res.Unchanged {
			return o.result.unchanged(cmd.Context(), o.Out, progress, t, len(o.targets) > 1, o.app.Name, msg)
		}
		return o.result.done(cmd.Context(), o.Out, t, len(o.targets) > 1, o.app.Name, msg)
	})
	return o.result.flush(o.Out, o.targets, err)
}

// diff prints, per target, what deploying would change, through
// KUBECTL_EXTERNAL_DIFF when set. As kubectl diff, it exits 1 when anything
// differs (ErrDiffers) and more on trouble.
func (o *DeployOptions) diff(cmd *cobra.Command) error {
	return diffTargets(cmd.Context(), o.targets, o.IOStreams, o.app.Name, func(t target, out io.Writer) (bool, error) {
		// Adopt as the deploy would: the preview of --adopt shows the
		// take-over, where it refused objects another tool made (a docs audit).
		cfg := &deploy.Config{Options: deploy.Options{Namespace: t.namespace, Progress: o.ErrOut}, App: o.app, Debug: o.Debug, Adopt: o.Adopt,
			ExternalDiff: os.Getenv("KUBECTL_EXTERNAL_DIFF")}
		return deploy.Diff(cmd.Context(), t.client, cfg, out)
	})
}

// diffTargets runs diff, which writes to out what a command would change,
// for each target in turn (under a header per cluster when several). As
// kubectl diff, it exits 1 when anything differs (ErrDiffers) and 2 on
// trouble, and stdout holds only the diff: "no changes" goes to stderr. A
// cluster that fails does not stop the others (each is diffed, then the
// failures joined, exit 2), and its header is printed only above what its
// diff wrote: none for a failure before any line (an audit: a bare header,
// and the later clusters never diffed).
func diffTargets(ctx context.Context, targets []target, streams genericiooptions.IOStreams, app string, diff func(t target, out io.Writer) (bool, error)) error {
	differs := false
	var errs []error
	for _, t := range targets {
		out := streams.Out
		if len(targets) > 1 {
			// streams.Out itself for one cluster: an external diff
			// (KUBECTL_EXTERNAL_DIFF) then writes to the terminal.
			out = &headedWriter{w: streams.Out, header: fmt.Sprintf("# context %s, namespace %s\n", t.context, t.namespace)}
		}
		changed, err := diff(t, out)
		if err != nil {
			errs = append(errs, contextErr(t.context, t.absent(ctx, err)))
			continue
		}
		if !changed {
			fmt.Fprintf(streams.ErrOut, "%s: no changes in namespace %s\n", app, t.namespace)
		}
		differs = differs || changed
	}
	switch {
	case len(errs) > 0:
		return &ExitError{Code: 2, Err: errors.Join(errs...)}
	case differs:
		return &ExitError{Code: 1, Err: ErrDiffers}
	}
	return nil
}

// headedWriter writes header before the first bytes written through it.
type headedWriter struct {
	w       io.Writer
	header  string
	written bool
}

func (h *headedWriter) Write(p []byte) (int, error) {
	if !h.written && len(p) > 0 {
		h.written = true
		if _, err := io.WriteString(h.w, h.header); err != nil {
			return 0, err
		}
	}
	return h.w.Write(p)
}

// ErrDiffers is what deploy --diff returns when the cluster differs from
// the spec; it is not printed, only the exit code 1 says it.
var ErrDiffers = errors.New("differences found")

// ExitCode is the status kubectl zz exits with after cmd returned err
// (non-nil): an ExitError's code, else 2 where the command diffs (diff,
// deploy --diff, rollback --diff, scale and restart --dry-run: 1 there
// means "differs", so a flag or argument error must not read as it, as
// kubectl diff), else 1.
func ExitCode(cmd *cobra.Command, err error) int {
	return exitCode(cmd, err, os.Args[1:])
}

// exitCode is ExitCode for the command line args (what a failed parse
// leaves unread).
func exitCode(cmd *cobra.Command, err error, args []string) int {
	if exit, ok := errors.AsType[*ExitError](err); ok {
		return exit.Code
	}
	if cmd != nil && (cmd.Name() == "diff" || isDiffRun(cmd, args)) {
		return 2
	}
	return 1
}

// dryRunDiffs is the annotation of a --dry-run that is the command's
// --diff (scale, restart): its errors exit 2 as --diff's do.
const dryRunDiffs = "zz.io/dry-run-diffs"

// isDiffRun reports whether cmd was asked to --diff (or to --dry-run, where
// that is its diff), even where its flags did not parse: then args, the
// command line, say it ("--dry-run=sever" was meant as a diff too).
func isDiffRun(cmd *cobra.Command, args []string) bool {
	diff, dry := cmd.Flags().Lookup("diff"), cmd.Flags().Lookup("dry-run")
	if diff == nil {
		return false
	}
	dryDiffs := dry != nil && dry.Annotations[dryRunDiffs] != nil
	switch {
	case diff.Changed && diff.Value.String() == "true":
		return true
	case dryDiffs && dry.Changed && dry.Value.String() != dryRunNone:
		return true
	}
	return slices.ContainsFunc(args, func(a string) bool {
		if !diff.Changed && (a == "--diff" || a == "--diff=true") {
			return true
		}
		v, ok := strings.CutPrefix(a, "--dry-run")
		return dryDiffs && !dry.Changed && ok && (v == "" || strings.HasPrefix(v, "=") && !slices.Contains([]string{"=none", "=false", "=0", "=f", "=F", "=FALSE", "=False"}, v))
	})
}

// ExitError asks main to exit with Code; Err is printed unless it is
// ErrDiffers.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// printObjects prints objs through cli-runtime's printers: a YAML stream, or
// one JSON List.
func printObjects(objs []render.Object, output string, out io.Writer) error {
	manifests := make([]runtime.Object, len(objs))
	for i, obj := range objs {
		m, err := manifest(obj)
		if err != nil {
			return err
		}
		manifests[i] = m
	}
	if output == "json" {
		list := &corev1.List{}
		list.APIVersion, list.Kind = "v1", "List"
		for _, m := range manifests {
			list.Items = append(list.Items, runtime.RawExtension{Object: m})
		}
		return (&printers.JSONPrinter{}).PrintObj(list, out)
	}
	p := &printers.YAMLPrinter{}
	for _, m := range manifests {
		if err := p.PrintObj(m, out); err != nil {
			return err
		}
	}
	return nil
}

// manifest is obj as one writes it to apply: no status, no empty
// creationTimestamp (a GitOps tool that applies --dry-run's output showed
// them as noise: an app-developer audit).
func manifest(obj render.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok && meta["creationTimestamp"] == nil {
		delete(meta, "creationTimestamp")
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// isTerminal reports whether w is a terminal, where the progress line is
// rewritten in place.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// termWidth is the width of terminal w, 0 when unknown.
func termWidth(w any) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}

// maxSpecBytes bounds a spec read from stdin or a URL: an app spec is a few
// KiB, and a wrong URL must not fill the memory.
const maxSpecBytes = 1 << 20

// readSpec reads a spec as kubectl's -f does: "-" is stdin, an http(s) URL
// is fetched (for at most 30 s, or until ctx ends), anything else is a file.
func readSpec(ctx context.Context, name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	switch {
	case name == "-":
		if stdin == nil {
			return nil, errors.New("-f -: no stdin to read the spec from")
		}
		r = stdin
	case strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://"):
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, name, nil)
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", name, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("-f %s: %w", name, err)
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("-f %s: the server answered %s", name, resp.Status)
		}
		r = resp.Body
	default:
		return os.ReadFile(name)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("-f %s: %w", name, err)
	}
	if len(data) > maxSpecBytes {
		return nil, fmt.Errorf("-f %s: more than %d bytes; an app spec is a few KiB", name, maxSpecBytes)
	}
	return data, nil
}

// specName is how errors name a spec: stdin as kubectl names it.
func specName(name string) string {
	if name == "-" {
		return "<stdin>"
	}
	return name
}
