package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// appTargets is what the commands about one deployed app share: its name and
// the clusters (--context a,b) and namespace kubectl's flags select.
type appTargets struct {
	App         string
	targets     []target
	configFlags *genericclioptions.ConfigFlags
}

// appOutputPrefix starts what -o name prints for an app (app.zz.io/shop).
var appOutputPrefix = strings.ToLower(contract.OutputKindApp) + "." + strings.Split(contract.OutputAPIVersion, "/")[0] + "/"

// appKinds are the TYPEs an app argument may carry: the app as -o name
// prints it (app.zz.io/NAME) and kubectl takes it back (app/NAME), and its
// Deployment as kubectl names it (deploy/NAME).
var appKinds = append([]string{strings.TrimSuffix(appOutputPrefix, "/"), "app", "apps"}, deploymentKinds...)

// deploymentKinds are kubectl's names of a Deployment.
var deploymentKinds = []string{"deployment", "deployments", "deploy", "deployment.apps"}

// podKinds are kubectl's names of a pod, where a command takes one.
var podKinds = []string{"pod", "pods", "po"}

// appArg is the app an argument names: NAME or TYPE/NAME (appKinds); so
// kubectl zz list -o name | xargs -n1 kubectl zz restart works. A name no
// app can have is refused here, saying so, not by a label selector's parser.
func appArg(arg string) (string, error) {
	app, _, err := appRef(arg, false)
	return app, err
}

// appRef is the app, or with pods the pod too (pod/NAME), an argument
// names: one table for every command (logs took deploy/NAME where status
// refused it with a label's regular expression: a code review).
func appRef(arg string, pods bool) (app, pod string, _ error) {
	name := arg
	if kind, n, ok := strings.Cut(arg, "/"); ok {
		switch {
		case pods && slices.Contains(podKinds, kind) && n != "":
			return "", n, nil
		case !slices.Contains(appKinds, kind) && !slices.Contains(podKinds, kind):
			forms := "NAME, app/NAME or deployment/NAME"
			if pods {
				forms = "NAME, app/NAME, deployment/NAME or pod/NAME"
			}
			return "", "", fmt.Errorf("%q: name an app as %s (kubectl zz list shows the apps)", arg, forms)
		case !slices.Contains(appKinds, kind):
			return "", "", fmt.Errorf("%q names a pod; this command takes an app: NAME, app/NAME or deployment/NAME (kubectl zz list shows the apps)", arg)
		}
		name = n
	}
	if name == "" {
		return "", "", fmt.Errorf("%q names no app (kubectl zz list shows the apps)", arg)
	}
	if appspec.CheckName("", "", name) != nil {
		// deploy's rule, in its words: a label's regular expression
		// suggested MyValue and my_value, which deploy refuses (an audit).
		if base, ok := strings.CutSuffix(name, contract.CanarySuffix); ok && appspec.CheckName("", "", base) == nil {
			return "", "", fmt.Errorf("%q is the canary of app %s: name the app, %s (its canary is part of it)", arg, base, base)
		}
		return "", "", fmt.Errorf("%q is not an app name: %s (kubectl zz list shows the apps)", arg, appspec.NameRule)
	}
	return name, "", nil
}

// nameOf is arg without the first of prefixes it starts with (TYPE/ as
// -o name or kubectl writes it), arg when none.
func nameOf(arg string, prefixes ...string) string {
	for _, prefix := range prefixes {
		if n, ok := strings.CutPrefix(arg, prefix); ok {
			return n
		}
	}
	return arg
}

// complete takes the app name from args[0] (cobra checked there is one) and
// connects to every target.
func (a *appTargets) complete(args []string, errOut io.Writer) error {
	app, err := appArg(args[0])
	if err != nil {
		return err
	}
	a.App = app
	a.targets, err = resolveTargets(a.configFlags, true, errOut)
	return err
}

// several reports whether the command acts on more than one cluster.
func (a *appTargets) several() bool { return len(a.targets) > 1 }

// argsOptions is kubectl's Options pattern, for commands that take arguments.
type argsOptions interface {
	Complete(args []string) error
	Validate() error
	Run(cmd *cobra.Command) error
}

// runOptions is a command's RunE: Complete, Validate (no I/O), then Run.
func runOptions(o argsOptions) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd)
	}
}

// oneApp is the Args check of the commands about one app. cobra's own
// ("accepts 1 arg(s), received 2") says neither what the argument is nor where
// the rest belongs; this names both, with the command's usage line.
func oneApp(cmd *cobra.Command, args []string) error {
	switch len(args) {
	case 1:
		return nil
	case 0:
		return fmt.Errorf("an app name is required (kubectl zz list shows the apps); usage: %s", cmd.UseLine())
	}
	return fmt.Errorf("one app name is expected, got %d arguments (%s); usage: %s", len(args), strings.Join(args, " "), cmd.UseLine())
}

// someApps is the Args check of the commands that take one app or more
// (delete, as kubectl delete takes several names).
func someApps(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("an app name is required (kubectl zz list shows the apps); usage: %s", cmd.UseLine())
	}
	return nil
}

// severalApps are the apps args name, each once, in the order given.
func severalApps(args []string) ([]string, error) {
	var apps []string
	for _, arg := range args {
		app, err := appArg(arg)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(apps, app) {
			apps = append(apps, app)
		}
	}
	return apps, nil
}

// atMostOneApp is oneApp for the commands whose app is optional (status,
// events): without it they show every app of the namespace.
func atMostOneApp(cmd *cobra.Command, args []string) error {
	if len(args) <= 1 {
		return nil
	}
	several := ""
	if cmd.Flags().Lookup("selector") != nil {
		// kubectl takes several names; here a selector does (a kubectl audit).
		several = fmt.Sprintf("; several apps: -l '%s in (%s)'", contract.LabelApp, strings.Join(appNames(args), ", "))
	}
	without := "without one, every app of the namespace is shown"
	if cmd.Name() == "logs" {
		without = "without one, -l or --pod says whose logs"
	}
	return fmt.Errorf("at most one app name is expected, got %d arguments (%s); %s%s; usage: %s", len(args), strings.Join(args, " "), without, several, cmd.UseLine())
}

// appNames are args as app names (app.zz.io/shop, app/shop: shop).
func appNames(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a[strings.LastIndex(a, "/")+1:]
	}
	return out
}
