package deploy

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/render"
)

// takeBackFirst changes a Deployment's pod template once where the apply
// of obj (body, its JSON) changes it and another writer's fields are there
// (what takeBack removes): the apply's dry run less those fields is put in
// place in one update before the apply, which then changes nothing there.
// Applied first, the apply kept the other writer's fields (server-side
// apply does) and the take-back after it removed them: two templates rolled
// out, the first one (the new image with a kubectl set env var the deploy
// says it removes) asked for by nobody, and its pods were created (an
// adoption audit). Where the apply leaves the template as it runs, the
// take-back after it is the one change. Without the right to update, the
// take-back after it says why the fields stay.
func takeBackFirst(ctx context.Context, c kubernetes.Interface, k kindOps, ns string, live runtime.Object, obj render.Object, body []byte, cl *claim) error {
	if _, ok := live.(*appsv1.Deployment); !ok || k.whole == nil {
		return nil
	}
	j, err := newPartJudge(k, ns, obj)
	if err != nil {
		return err
	}
	var d wholeDrift
	updated := false
	_, err = conflictRetried(ctx, c, k, ns, live, func(live runtime.Object, stored bool) (runtime.Object, error) {
		if stored {
			updated = true
			return nil, nil
		}
		merged, err := k.apply(ctx, c, ns, obj.GetName(), body, true)
		if err != nil {
			return nil, err
		}
		m, ok := merged.(*appsv1.Deployment)
		l, ok2 := live.(*appsv1.Deployment)
		if !ok || !ok2 || apiequality.Semantic.DeepEqual(m.Spec.Template, l.Spec.Template) {
			return nil, nil
		}
		var put runtime.Object
		if put, d, err = j.takenBack(ctx, c, merged); err != nil || put == nil {
			return nil, err
		}
		pm, err := meta.Accessor(put)
		if err != nil {
			return nil, err
		}
		pm.SetResourceVersion(l.ResourceVersion)
		return put, nil
	})
	switch {
	case apierrors.IsForbidden(err):
		return nil
	case err != nil:
		return fmt.Errorf("update the %s of deployment %s/%s: %w", k.whole.name, ns, obj.GetName(), err)
	case updated:
		cl.notes = append(cl.notes, fmt.Sprintf("deployment %s: removed from its %s what was written%s, outside kubectl zz", obj.GetName(), k.whole.name, d.writer()))
	}
	return nil
}
