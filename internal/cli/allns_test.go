package cli

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clienttesting "k8s.io/client-go/testing"
)

// TestAllNamespacesForbidden: list, status and events with -A, refused
// cluster-wide by the user's role (a namespace's edit user), fail with the
// apiserver's Forbidden and what to run instead, as gpu says it; they gave
// the Forbidden alone (a scale audit).
func TestAllNamespacesForbidden(t *testing.T) {
	for _, args := range [][]string{{"list", "-A"}, {"status", "-A"}, {"events", "-A"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			d, rec := recordedApp(t, "ns-a", "shop")
			a := fakeClient(d, rec)
			a.PrependReactor("list", "*", func(act clienttesting.Action) (bool, runtime.Object, error) {
				if act.GetNamespace() == "" {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: act.GetResource().Resource}, "", errors.New("User \"dev\" cannot list resource at the cluster scope"))
				}
				return false, nil, nil
			})
			zz := withFakeClusters(t, a, fakeClient())
			_, _, err := zz(append(args, "--context", "a")...)
			want := "drop -A (kubectl zz " + args[0] + " -n ns-a) for the namespace you may read"
			if err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v; want the Forbidden and %q", err, want)
			}
		})
	}
}
