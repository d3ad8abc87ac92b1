package deploy

import (
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/appspec"
)

// reaction is a reactor a test sets on the fake before its controller
// starts (the controller reads the chain: a reactor set after races).
type reaction struct {
	verb, resource string
	react          func(c *fake.Clientset, a clienttesting.Action) (bool, runtime.Object, error)
}

// onDryRun answers the server-side dry runs of verb (create, update or
// patch) on resource with answer's object, or its error (a refusal): what
// the apiserver's defaults, admission or authorization make of them. It
// gets the object sent (a create's, an update's) or the live one (a
// patch's). Other requests go on down the chain.
func onDryRun(verb, resource string, answer func(obj runtime.Object) (runtime.Object, error)) reaction {
	return reaction{verb, resource, func(c *fake.Clientset, a clienttesting.Action) (bool, runtime.Object, error) {
		obj := sentDryRun(a)
		if p, ok := a.(clienttesting.PatchActionImpl); ok && len(p.PatchOptions.DryRun) > 0 {
			live, err := c.Tracker().Get(p.GetResource(), p.GetNamespace(), p.GetName())
			if err != nil {
				return false, nil, nil // a create's: the controller's dry run answers
			}
			obj = live
		}
		if obj == nil {
			return false, nil, nil
		}
		out, err := answer(obj.DeepCopyObject())
		if out == nil && err == nil {
			return false, nil, nil // not this test's: the controller's dry run answers
		}
		return true, out, err
	}}
}

// sentDryRun is the object a dry-run create or update sends; nil for any
// other request (the controller's fake and onDryRun both answer with it).
func sentDryRun(a clienttesting.Action) runtime.Object {
	switch a := a.(type) {
	case clienttesting.CreateActionImpl:
		if len(a.CreateOptions.DryRun) > 0 {
			return a.GetObject()
		}
	case clienttesting.UpdateActionImpl:
		if len(a.UpdateOptions.DryRun) > 0 {
			return a.GetObject()
		}
	}
	return nil
}

// armed is r acting only once on is set (after the deploy that made the
// app, say).
func armed(on *atomic.Bool, r reaction) reaction {
	react := r.react
	r.react = func(c *fake.Clientset, a clienttesting.Action) (bool, runtime.Object, error) {
		if !on.Load() {
			return false, nil, nil
		}
		return react(c, a)
	}
	return r
}

// onEvery runs fn on every verb request of resource, before the fake.
func onEvery(verb, resource string, fn clienttesting.ReactionFunc) reaction {
	return reaction{verb, resource, func(_ *fake.Clientset, a clienttesting.Action) (bool, runtime.Object, error) { return fn(a) }}
}

// startedApp is a fake clientset with rs before its reactors and the fake
// controller started, and app shop (reg/shop:1) deployed as revision 1.
func startedApp(t *testing.T, rs ...reaction) (*fake.Clientset, *appspec.App) {
	t.Helper()
	c := fake.NewClientset()
	for _, r := range rs {
		c.PrependReactor(r.verb, r.resource, func(a clienttesting.Action) (bool, runtime.Object, error) { return r.react(c, a) })
	}
	startController(t, c)
	app := spec(t, "reg/shop:1", "")
	deployOK(t, c, app, 0)
	return c, app
}

// updateService writes the live Service shop as manager, changed by
// change, and returns what the fake stored.
func updateService(t *testing.T, c *fake.Clientset, manager string, change func(*corev1.Service)) *corev1.Service {
	t.Helper()
	svc, err := c.CoreV1().Services(ns).Get(t.Context(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	change(svc)
	if svc, err = c.CoreV1().Services(ns).Update(t.Context(), svc, metav1.UpdateOptions{FieldManager: manager}); err != nil {
		t.Fatal(err)
	}
	return svc
}

// updateDeployment is updateService for the Deployment shop.
func updateDeployment(t *testing.T, c *fake.Clientset, manager string, change func(*appsv1.Deployment)) *appsv1.Deployment {
	t.Helper()
	d := deployment(t, c, "shop")
	change(d)
	d, err := c.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{FieldManager: manager})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// withoutEntriesOf drops manager's entries from obj's managed fields: an
// update then sends them, and the apiserver keeps what is sent (the
// two-update orphaning of a field).
func withoutEntriesOf(manager string) func(metav1.Object) {
	return func(o metav1.Object) {
		var kept []metav1.ManagedFieldsEntry
		for _, e := range o.GetManagedFields() {
			if e.Manager != manager {
				kept = append(kept, e)
			}
		}
		o.SetManagedFields(kept)
	}
}
