package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/render"
)

const deployExample = `  # Deploy the app described in ./zz.yaml and wait until it is ready
  kubectl zz deploy

  # Deploy a new image of the app in shop.yaml, giving up after two minutes
  kubectl zz deploy -f shop.yaml --image registry.local/shop:1.5.0 --timeout 2m --rollback-on-failure

  # Deploy without a file
  kubectl zz deploy --name shop --type web --image registry.local/shop:1.5.0 --replicas 3

  # Print the objects instead of applying them
  kubectl zz deploy --dry-run

  # Show what a deploy would change in the cluster
  kubectl zz deploy --diff --image registry.local/shop:1.5.0`

// DeployOptions is kubectl zz deploy.
type DeployOptions struct {
	Filename          string
	Name              string
	Type              string
	Image             string
	Version           string
	Replicas          int32
	DryRun            bool
	Diff              bool
	Output            string
	Debug             bool
	Timeout           time.Duration
	HistoryLimit      int
	RollbackOnFailure bool
	ChangeCause       string

	// Set by Complete.
	data    []byte
	file    string
	targets []target
	// Set by Validate.
	app *appspec.App

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
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.replicasSet = cmd.Flags().Changed("replicas")
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.Filename, "filename", "f", "", "App spec file (default zz.yaml, unless --name describes the app in flags)")
	fl.StringVar(&o.Name, "name", "", "App name, without a spec file")
	fl.StringVar(&o.Type, "type", "", "App type without a spec file: java, web, rpc or worker")
	fl.StringVar(&o.Image, "image", "", "Image to deploy, overriding the spec's (its tag becomes the version unless --version is set)")
	fl.StringVar(&o.Version, "version", "", "Version label, overriding the spec's")
	fl.Int32Var(&o.Replicas, "replicas", 0, "Replicas, overriding the spec's")
	fl.BoolVar(&o.DryRun, "dry-run", false, "Print the rendered objects and send nothing to the cluster")
	fl.BoolVar(&o.Diff, "diff", false, "Show what the deploy would change (server-side dry run) and change nothing")
	fl.StringVarP(&o.Output, "output", "o", "yaml", "Format of --dry-run: yaml or json")
	fl.BoolVar(&o.Debug, "debug", false, "Deploy without probes, to inspect a failing app in place")
	fl.DurationVar(&o.Timeout, "timeout", deploy.DefaultTimeout, "How long to wait for the rollout before failing")
	fl.IntVar(&o.HistoryLimit, "history-limit", deploy.DefaultHistoryLimit, "Revisions to keep per app")
	fl.BoolVar(&o.RollbackOnFailure, "rollback-on-failure", false, "Restore the last good revision if the rollout fails")
	fl.StringVar(&o.ChangeCause, "change-cause", "", "Why, recorded with the revision (default: the version)")
	_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"java", "web", "rpc", "worker"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	return cmd
}

// Complete reads the spec file, the namespace and, unless --dry-run, builds
// the client.
func (o *DeployOptions) Complete() error {
	switch {
	case o.Filename != "":
		o.file = o.Filename
	case o.Name == "":
		o.file = appspec.DefaultFile
	}
	if o.file != "" {
		data, err := os.ReadFile(o.file)
		if errors.Is(err, os.ErrNotExist) && o.Filename == "" {
			return fmt.Errorf("no %s here: pass -f FILE, or describe the app with --name, --type and --image", appspec.DefaultFile)
		}
		if err != nil {
			return err
		}
		o.data = data
	} else {
		o.file = "flags"
	}
	var err error
	o.targets, err = resolveTargets(o.configFlags, !o.DryRun)
	return err
}

// Validate decodes and checks the spec with the flag overrides; no I/O.
func (o *DeployOptions) Validate() error {
	if o.DryRun && o.Diff {
		return errors.New("--dry-run and --diff exclude each other: --dry-run prints the objects offline, --diff asks the cluster what would change")
	}
	if o.Output != "yaml" && o.Output != "json" {
		return fmt.Errorf("--output must be 'yaml' or 'json', got %q", o.Output)
	}
	if o.HistoryLimit < 1 {
		return fmt.Errorf("--history-limit must be at least 1, got %d", o.HistoryLimit)
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	app := &appspec.App{}
	if o.data != nil {
		if o.Name != "" || o.Type != "" {
			return fmt.Errorf("--name and --type describe an app without a file; edit %s instead", o.file)
		}
		var err error
		if app, err = appspec.Decode(o.file, o.data); err != nil {
			return err
		}
	} else {
		app.Name, app.Spec.Type = o.Name, appspec.Type(o.Type)
	}
	if o.Image != "" {
		app.Spec.Image, app.Spec.Version = o.Image, ""
	}
	if o.Version != "" {
		app.Spec.Version = o.Version
	}
	if o.replicasSet {
		app.Spec.Replicas = &o.Replicas
	}
	app.Default()
	if errs := app.Validate(o.file); len(errs) > 0 {
		return errs
	}
	o.app = app
	return nil
}

// Run prints (--dry-run) or deploys the app.
func (o *DeployOptions) Run(cmd *cobra.Command) error {
	if o.DryRun {
		return printObjects(render.Render(o.app, render.Options{Namespace: o.targets[0].namespace, Debug: o.Debug}), o.Output, o.Out)
	}
	if o.Diff {
		return o.diff(cmd)
	}
	var mu sync.Mutex
	return forEach(o.targets, o.ErrOut, func(t target, progress io.Writer, live bool) error {
		res, err := deploy.Run(cmd.Context(), t.client, &deploy.Config{
			Options: deploy.Options{
				Namespace: t.namespace, Timeout: o.Timeout, HistoryLimit: o.HistoryLimit,
				Progress: progress, Live: live, Width: termWidth(progress),
			},
			App: o.app, Debug: o.Debug, ChangeCause: o.ChangeCause, RollbackOnFailure: o.RollbackOnFailure,
		})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		_, err = fmt.Fprintf(o.Out, "%s %s deployed as revision %d in %s\n", o.app.Name, o.app.Spec.Version, res.Revision, where(t))
		return err
	})
}

// diff prints, per target, what deploying would change.
func (o *DeployOptions) diff(cmd *cobra.Command) error {
	for _, t := range o.targets {
		if len(o.targets) > 1 {
			fmt.Fprintf(o.Out, "# context %s, namespace %s\n", t.context, t.namespace)
		}
		cfg := &deploy.Config{Options: deploy.Options{Namespace: t.namespace}, App: o.app, Debug: o.Debug}
		changed, err := deploy.Diff(cmd.Context(), t.client, cfg, o.Out)
		if err != nil {
			return contextErr(t.context, err)
		}
		if !changed {
			fmt.Fprintf(o.Out, "%s: no changes in namespace %s\n", o.app.Name, t.namespace)
		}
	}
	return nil
}

// printObjects prints objs through cli-runtime's printers: a YAML stream, or
// one JSON List.
func printObjects(objs []render.Object, output string, out io.Writer) error {
	if output == "json" {
		list := &corev1.List{}
		list.APIVersion, list.Kind = "v1", "List"
		for _, obj := range objs {
			list.Items = append(list.Items, runtime.RawExtension{Object: obj})
		}
		return (&printers.JSONPrinter{}).PrintObj(list, out)
	}
	p := &printers.YAMLPrinter{}
	for _, obj := range objs {
		if err := p.PrintObj(obj, out); err != nil {
			return err
		}
	}
	return nil
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
