package cli

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
)

// TestStatusListsOnlyAskedApps: status a b and status -l SEL list the
// pods, revision records and other objects of the apps asked, by a
// selector of their names, as kubectl get -l lists: they listed every
// app's of the namespace (every namespace's with -A) and kept the asked
// ones (a scale audit: status -A -l zz.io/app=web-4 listed the 360 pods and
// 400 records of 140 apps to show 10).
func TestStatusListsOnlyAskedApps(t *testing.T) {
	tests := []struct {
		args []string
		pods []string // the label selectors pods were listed with
	}{
		{args: []string{"status"}, pods: []string{"zz.io/app"}},
		{args: []string{"list", "-l", "tier=web"}, pods: []string{"zz.io/app=shop"}},
		{args: []string{"status", "-A", "-l", "tier=web"}, pods: []string{"zz.io/app=shop"}},
		{args: []string{"status", "-l", "tier in (web,api)"}, pods: []string{"zz.io/app in (cart,shop)"}},
		{args: []string{"status", "shop", "blog"}, pods: []string{"zz.io/app in (blog,shop)"}},
		{args: []string{"status", "-l", "tier=none"}, pods: nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var objs []runtime.Object
			for _, app := range []string{"shop", "cart", "blog"} {
				d, rec := recordedApp(t, "ns-a", app)
				d.Labels["tier"] = map[string]string{"shop": "web", "cart": "api", "blog": "docs"}[app]
				objs = append(objs, d, rec)
			}
			a := fakeClient(objs...)
			var mu sync.Mutex
			var pods []string
			a.PrependReactor("list", "*", func(act clienttesting.Action) (bool, runtime.Object, error) {
				l := act.(clienttesting.ListActionImpl)
				if l.GetResource().Resource == "pods" {
					mu.Lock()
					pods = append(pods, l.GetListRestrictions().Labels.String())
					mu.Unlock()
				}
				return false, nil, nil
			})
			zz := withFakeClusters(t, a, fakeClient())
			out, stderr, err := zz(append(tt.args, "--context", "a")...)
			if err != nil {
				t.Fatalf("%v\n%s%s", err, out, stderr)
			}
			if !slices.Equal(pods, tt.pods) {
				t.Errorf("pods listed with %q; want %q\n%s", pods, tt.pods, out)
			}
		})
	}
}

// BenchmarkStatusSelected: the status of one app picked by -l in a
// namespace of 200 apps and 600 pods, read as before (every app's objects
// listed, the asked one kept) and by a selector of its name.
func BenchmarkStatusSelected(b *testing.B) {
	var objs []runtime.Object
	for i := range 200 {
		app := fmt.Sprintf("app-%d", i)
		d, rec := recordedApp(b, "ns-a", app)
		objs = append(objs, d, rec)
		for j := range 3 {
			objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-7d9c6b8f5-%d", app, j), Namespace: "ns-a",
				Labels: map[string]string{contract.LabelApp: app}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}})
		}
	}
	c := fakeClient(objs...)
	keep := func(_, app string) bool { return app == "app-7" }
	for _, bb := range []struct {
		name  string
		names []string
	}{{"every app read, then kept", nil}, {"read by name", []string{"app-7"}}} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				apps, err := deploy.StatusesOf(b.Context(), c, deploy.Live(c), "ns-a", bb.names, keep)
				if err != nil || len(apps) != 1 {
					b.Fatalf("%d apps, %v", len(apps), err)
				}
			}
		})
	}
}
