package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/prose"
)

// printFlags is -o of every command that shows data (status, list, history,
// gpu, version): a table by default, "wide" for more columns, and
// cli-runtime's printers for json, yaml, name, jsonpath=..., go-template=...
// (and --template), as kubectl get has them.
type printFlags struct {
	*genericclioptions.PrintFlags
	// NoHeaders leaves the table's header line out (--no-headers, as
	// kubectl get), where addNoHeaders gave the command the flag.
	NoHeaders bool
	// noWide: the command has no wider table (-o wide is neither offered
	// nor taken).
	noWide bool
	// noName: the command prints no object -o name can name (init's app
	// spec file); -o name is neither offered nor taken.
	noName bool
	// printer is built once and kept: the YAML printer writes "---" before
	// every document but its first, so a fresh one for each print of a
	// watch glued the documents into one (a kubectl-conventions audit).
	printer   printers.ResourcePrinter
	printerMu sync.Mutex
}

func newPrintFlags() *printFlags {
	return &printFlags{PrintFlags: genericclioptions.NewPrintFlags("")}
}

// formats are the -o values, for help and completion.
func (p *printFlags) formats() []string {
	formats := p.AllowedFormats()
	if p.noName {
		formats = slices.DeleteFunc(formats, func(f string) bool { return f == "name" })
	}
	if p.noWide {
		return formats
	}
	return append([]string{"wide"}, formats...)
}

// addFlags adds -o and the template flags to cmd.
func (p *printFlags) addFlags(cmd *cobra.Command) {
	p.AddFlags(cmd)
	cmd.Flags().Lookup("output").Usage = fmt.Sprintf("Output format. One of: (%s). A table when empty.", strings.Join(p.formats(), ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return p.formats(), cobra.ShellCompDirectiveNoFileComp
	})
}

// addNoHeaders adds --no-headers, for the commands whose table has a header.
func (p *printFlags) addNoHeaders(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&p.NoHeaders, "no-headers", false, "When printing a table, leave the header line out (as kubectl get --no-headers)")
}

// newTable is a table of header, printed without it under --no-headers.
func (p *printFlags) newTable(header ...string) *table {
	t := newTable(header...)
	t.noHeaders = p.NoHeaders
	return t
}

func (p *printFlags) format() string {
	if p.OutputFormat == nil {
		return ""
	}
	return *p.OutputFormat
}

// table reports whether the command prints its table (no -o, or -o wide).
func (p *printFlags) table() bool {
	template := p.TemplatePrinterFlags != nil && p.TemplatePrinterFlags.TemplateArgument != nil && *p.TemplatePrinterFlags.TemplateArgument != ""
	return (p.format() == "" || p.format() == "wide") && !template
}

func (p *printFlags) wide() bool { return p.format() == "wide" }

// validate checks -o and the template; it does no I/O.
func (p *printFlags) validate() error {
	if p.noWide && p.wide() {
		return fmt.Errorf("--output %q is not supported; use one of: %s", p.format(), strings.Join(p.formats(), ", "))
	}
	if p.table() {
		return nil
	}
	_, err := p.ToPrinter()
	if genericclioptions.IsNoCompatiblePrinterError(err) || p.noName && p.format() == "name" {
		return fmt.Errorf("--output %q is not supported; use one of: %s", p.format(), strings.Join(p.formats(), ", "))
	}
	return err
}

// toPrinter is the -o printer, the same one for every print.
func (p *printFlags) toPrinter() (printers.ResourcePrinter, error) {
	p.printerMu.Lock()
	defer p.printerMu.Unlock()
	if p.printer == nil {
		pr, err := p.ToPrinter()
		if err != nil {
			return nil, err
		}
		p.printer = pr
	}
	return p.printer, nil
}

// print writes one item with the -o printer.
func (p *printFlags) print(w io.Writer, obj *unstructured.Unstructured) error {
	pr, err := p.toPrinter()
	if err != nil {
		return err
	}
	return pr.PrintObj(obj, w)
}

// printItems prints items as one v1 List, the shape of kubectl get -o json.
func (p *printFlags) printItems(w io.Writer, items []*unstructured.Unstructured) error {
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{}}}
	for _, it := range items {
		list.Items = append(list.Items, *it)
	}
	pr, err := p.toPrinter()
	if err != nil {
		return err
	}
	return pr.PrintObj(list, w)
}

// printable turns v (a struct with json tags) into an object the printers
// take: kind under contract.OutputAPIVersion, named name, v's fields at the
// top level beside apiVersion, kind and metadata.
func printable(kind, name string, v any) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	m["apiVersion"], m["kind"] = contract.OutputAPIVersion, kind
	m["metadata"] = map[string]any{"name": name}
	return &unstructured.Unstructured{Object: m}, nil
}

// table is what a command prints by default; with several clusters it gets a
// CLUSTER column first.
type table struct {
	header    []string
	rows      [][]string // cluster, then one cell per header
	noHeaders bool
}

func newTable(header ...string) *table { return &table{header: header} }

// add appends a row. Cells are escaped (prose.Cell): what they show comes
// from objects a namespace editor or a node writes (an event's message, a
// record's change cause, an image, a card's model), and a raw escape
// sequence would retitle, clear or rewrite the terminal of whoever reads
// them, a newline or tab print rows and columns of the writer's. An empty
// cell prints <none>, as kubectl's: a blank one shifted every field after
// it for awk and read.
func (t *table) add(cluster string, cells ...string) {
	row := make([]string, 0, 1+len(cells))
	row = append(row, prose.Cell(cluster))
	for _, c := range cells {
		if c == "" {
			c = "<none>"
		}
		row = append(row, prose.Cell(c))
	}
	t.rows = append(t.rows, row)
}

// print writes the table, with the CLUSTER column when showCluster.
func (t *table) print(w io.Writer, showCluster bool) error {
	tw := printers.GetNewTabWriter(w)
	t.write(tw, showCluster, !t.noHeaders, nil)
	return tw.Flush()
}

// write writes the rows of t whose index only holds (all when nil), after
// the header when header, for tw to align.
func (t *table) write(tw io.Writer, showCluster, header bool, only map[int]bool) {
	if header {
		h := t.header
		if showCluster {
			h = append([]string{"CLUSTER"}, h...)
		}
		fmt.Fprintln(tw, strings.Join(h, "\t"))
	}
	for i, r := range t.rows {
		if only != nil && !only[i] {
			continue
		}
		if !showCluster {
			r = r[1:]
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
}
