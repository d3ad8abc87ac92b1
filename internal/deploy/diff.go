package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// diffContext is how many unchanged lines surround each change.
const diffContext = 3

// Diff shows what deploying cfg.App would change, without changing anything:
// each rendered object is server-side applied as a dry run (the apiserver
// defaults, merges and admits it) and compared with the live object; objects
// the deploy would delete are shown as removed. The revision label, status
// and server-managed metadata are left out. It writes a unified diff to out
// and reports whether anything differs.
func Diff(ctx context.Context, c kubernetes.Interface, cfg *Config, out io.Writer) (bool, error) {
	app, ns := cfg.App.Name, cfg.Namespace
	objs := render.Render(cfg.App, render.Options{Namespace: ns, Debug: cfg.Debug})
	want := map[string]bool{}
	changed := false
	for _, o := range objs {
		want[o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName()] = true
		d, err := renderedDiff(ctx, c, ns, o)
		if err != nil {
			return false, err
		}
		if d != "" {
			changed = true
			if _, err := io.WriteString(out, d); err != nil {
				return false, err
			}
		}
	}
	extra, err := extraObjects(ctx, c, ns, app, want)
	if err != nil {
		return false, err
	}
	for _, e := range extra {
		live, err := e.ops.get(ctx, c, ns, e.name)
		if apierrors.IsNotFound(err) {
			continue
		} else if err != nil {
			return false, err
		}
		gvk := live.GetObjectKind().GroupVersionKind()
		gvk.Kind = e.ops.kind
		d, err := objectDiff(gvk, e.name, live, nil)
		if err != nil {
			return false, err
		}
		changed = true
		if _, err := io.WriteString(out, d); err != nil {
			return false, err
		}
	}
	return changed, nil
}

// renderedDiff compares what the apiserver would store for o (a dry-run
// apply) with the live object.
func renderedDiff(ctx context.Context, c kubernetes.Interface, ns string, o render.Object) (string, error) {
	gvk := o.GetObjectKind().GroupVersionKind()
	k, ok := kindOf(gvk.Kind)
	if !ok {
		return "", fmt.Errorf("kind %s of %s is not supported by this kubectl-zz; upgrade it", gvk.Kind, o.GetName())
	}
	body, err := json.Marshal(o)
	if err != nil {
		return "", err
	}
	merged, err := k.apply(ctx, c, ns, o.GetName(), body, true)
	if err != nil {
		return "", fmt.Errorf("dry-run apply %s %s/%s: %w", gvk.Kind, ns, o.GetName(), err)
	}
	live, err := k.get(ctx, c, ns, o.GetName())
	if apierrors.IsNotFound(err) {
		live = nil
	} else if err != nil {
		return "", fmt.Errorf("get %s %s/%s: %w", gvk.Kind, ns, o.GetName(), err)
	}
	return objectDiff(gvk, o.GetName(), live, merged)
}

// objectDiff is the unified diff of one object, before (nil: absent) and
// after (nil: deleted).
func objectDiff(gvk schema.GroupVersionKind, name string, before, after runtime.Object) (string, error) {
	a, err := comparable(before)
	if err != nil {
		return "", err
	}
	b, err := comparable(after)
	if err != nil {
		return "", err
	}
	label := gvk.Kind + "/" + name
	return unifiedDiff("live "+label, "new "+label, a, b, diffContext), nil
}

// comparable is obj as YAML without what the server or the revision number
// changes on every apply.
func comparable(obj runtime.Object) (string, error) {
	if obj == nil {
		return "", nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return "", err
	}
	delete(m, "status")
	delete(m, "apiVersion")
	delete(m, "kind")
	if meta, ok := m["metadata"].(map[string]any); ok {
		for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
			delete(meta, f)
		}
		if labels, ok := meta["labels"].(map[string]any); ok {
			delete(labels, contract.LabelRevision)
		}
		if ann, ok := meta["annotations"].(map[string]any); ok {
			delete(ann, contract.AnnotationDeploymentRevision)
			if len(ann) == 0 {
				delete(meta, "annotations")
			}
		}
	}
	b, err := yaml.Marshal(m)
	return string(b), err
}
