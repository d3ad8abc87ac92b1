package cli

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
)

// HistoryOptions is kubectl zz history.
type HistoryOptions struct {
	appTargets
	// Revision, when set, prints that revision's objects instead of the list.
	Revision int64
	// Spec prints the app spec the revision (the latest without Revision)
	// deployed, as a file kubectl zz deploy -f takes.
	Spec  bool
	print *printFlags
	genericiooptions.IOStreams
}

// NewCmdHistory returns "kubectl zz history APP".
func NewCmdHistory(f *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &HistoryOptions{appTargets: appTargets{configFlags: f}, print: newPrintFlags(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "history APP",
		Short: "List the recorded revisions of an app, or print one revision's objects",
		Example: `  kubectl zz history shop
  kubectl zz history shop -o yaml
  # the objects revision 3 applied (YAML by default)
  kubectl zz history shop --revision 3
  kubectl zz history shop --revision 3 -o json
  # the app spec that runs now, as a file deploy -f takes (helm get values)
  kubectl zz history shop --spec > zz.yaml
  kubectl zz history shop --spec --revision 3 -o jsonpath='{.spec.image}'
  # both clusters in one table
  kubectl zz history shop --context prod-a,prod-b`,
		Args:              oneApp,
		ValidArgsFunction: completeApps(f),
		RunE:              runOptions(o),
	}
	o.print.addFlags(cmd)
	o.print.addNoHeaders(cmd)
	cmd.Flags().Int64Var(&o.Revision, "revision", 0, "Print the objects of this revision (-o yaml, json, name, jsonpath, ...; yaml by default)")
	_ = cmd.RegisterFlagCompletionFunc("revision", completeRevisions(f))
	cmd.Flags().BoolVar(&o.Spec, "spec", false, "Print the app spec the revision was deployed from (the latest without --revision), as a file kubectl zz deploy -f takes")
	return cmd
}

// Complete takes the app name and connects to its clusters.
func (o *HistoryOptions) Complete(args []string) error { return o.complete(args, o.ErrOut) }

// Validate checks the flags; no I/O.
func (o *HistoryOptions) Validate() error {
	if o.Revision < 0 {
		return fmt.Errorf("--revision must be positive, got %d", o.Revision)
	}
	if o.Spec {
		if o.several() {
			return fmt.Errorf("--spec prints the spec of one cluster, a file of its own: name one --context, not %d", len(o.targets))
		}
		if o.print.wide() || o.print.format() == "name" {
			return fmt.Errorf("--spec prints a spec file: use -o yaml (the default), json, jsonpath=... or go-template=..., not %s", o.print.format())
		}
	}
	if o.Revision > 0 && o.print.wide() {
		return errors.New("--revision prints objects: use -o yaml, json, name, jsonpath=... or go-template=..., not wide")
	}
	return o.print.validate()
}

// historyItem is one revision in one cluster, as -o json prints it.
type historyItem struct {
	Cluster string `json:"cluster,omitempty"`
	// Namespace is where the revision is recorded (metadata.namespace
	// too), as status's items say it: each context may have its own (an
	// audit: a Revision said none).
	Namespace string `json:"namespace"`
	*deploy.Revision
}

// Run prints the revisions, oldest first, per cluster.
func (o *HistoryOptions) Run(cmd *cobra.Command) error {
	if o.Spec {
		return o.spec(cmd)
	}
	if o.Revision > 0 {
		return o.objects(cmd)
	}
	header := []string{"REVISION", "VERSION", "IMAGE", "UPDATED", "DEPLOYED-BY", "CHANGE-CAUSE"} // as status and helm history name them
	if o.print.wide() {
		// What else a revision holds: a canary, its objects, the spec
		// history --spec and diff --spec read.
		header = append(header, "CANARY", "OBJECTS", "SPEC")
	}
	tbl := o.print.newTable(header...)
	var items []*unstructured.Unstructured
	// Every cluster that answers is printed, then the failures are joined,
	// as status and list do: one context down hid the others' history.
	var errs []error
	for _, t := range o.targets {
		revs, err := deploy.History(cmd.Context(), t.client, t.namespace, o.App)
		if err != nil {
			errs = append(errs, contextErr(t.context, err))
			continue
		}
		if len(revs) == 0 {
			errs = append(errs, contextErr(t.context, t.absent(cmd.Context(), deploy.NotFound("%s has no recorded revisions in namespace %s; deploy it with kubectl zz deploy", o.App, t.namespace))))
			continue
		}
		for _, w := range append(deploy.Warnings(revs), deploy.Notes(revs)...) {
			fmt.Fprintln(o.ErrOut, contextErr(t.context, errors.New(w)))
		}
		if gaps := deploy.Gaps(o.App, revs); gaps != "" {
			fmt.Fprintln(o.ErrOut, contextErr(t.context, errors.New(gaps)))
		}
		for _, r := range revs {
			cells := []string{strconv.FormatInt(r.Number, 10), r.Version, r.Image, r.Time.Local().Format(time.DateTime), r.User, r.ChangeCause}
			if o.print.wide() {
				spec := "yes"
				if _, err := r.Spec(); errors.Is(err, deploy.ErrNoSpec) {
					spec = "-"
				} else if err != nil {
					spec = "unreadable"
				}
				if r.Unreadable != "" {
					spec = "-"
				}
				cells = append(cells, map[bool]string{true: "yes", false: "-"}[r.Canary], strconv.Itoa(len(r.Kinds)), spec)
			}
			tbl.add(t.name, cells...)
			it := historyItem{Namespace: t.namespace, Revision: r}
			if o.several() {
				it.Cluster = t.name
			}
			u, err := printable(contract.OutputKindRevision, deploy.RecordName(r.App, r.Number), it)
			if err != nil {
				return err
			}
			u.SetNamespace(t.namespace)
			items = append(items, u)
		}
	}
	var err error
	switch {
	case o.print.table() && len(tbl.rows) > 0:
		err = tbl.print(o.Out, o.several())
	case !o.print.table() && (len(items) > 0 || len(errs) == 0):
		err = o.print.printItems(o.Out, items)
	}
	return errors.Join(append([]error{err}, errs...)...)
}

// objects prints the objects revision o.Revision recorded, per cluster: one
// List (YAML unless -o says otherwise).
func (o *HistoryOptions) objects(cmd *cobra.Command) error {
	if o.print.table() {
		yaml := "yaml"
		o.print.OutputFormat = &yaml
	}
	var items []*unstructured.Unstructured
	for _, t := range o.targets {
		rev, err := deploy.GetRevision(cmd.Context(), t.client, t.namespace, o.App, o.Revision)
		if err != nil {
			return contextErr(t.context, err)
		}
		for _, obj := range rev.Objects() {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				return err
			}
			items = append(items, &unstructured.Unstructured{Object: m})
		}
	}
	return o.print.printItems(o.Out, items)
}

// spec prints the app spec revision o.Revision (the latest when 0)
// deployed: YAML unless -o says otherwise, with nothing around it, so that
// it is a spec file as it is.
func (o *HistoryOptions) spec(cmd *cobra.Command) error {
	if o.print.table() {
		yaml := "yaml"
		o.print.OutputFormat = &yaml
	}
	t := o.targets[0]
	rev, err := deploy.GetRevision(cmd.Context(), t.client, t.namespace, o.App, o.Revision)
	if err != nil {
		return contextErr(t.context, err)
	}
	// As recorded, with what this version does not know, and a note.
	m, err := rev.SpecAsRecorded()
	if err != nil {
		return contextErr(t.context, err)
	}
	for _, n := range deploy.Notes([]*deploy.Revision{rev}) {
		fmt.Fprintln(o.ErrOut, contextErr(t.context, errors.New(n)))
	}
	return o.print.print(o.Out, &unstructured.Unstructured{Object: m})
}
