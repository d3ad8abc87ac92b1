package deploy

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// TestAppEventsPaged: the events are listed in pages of eventsPage, as
// kubectl get events lists them, each page matched as it comes, so a
// cluster's 100,000 events are never one response held whole (a scale
// audit: events -A asked for every event of the cluster at once); a
// continue token that expired mid-way lists them again whole.
func TestAppEventsPaged(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	pages := map[string]*corev1.EventList{
		"": {ListMeta: metav1.ListMeta{ResourceVersion: "7", Continue: "p2"}, Items: []corev1.Event{
			*event("e1", "Deployment", "shop", "d-shop", corev1.EventTypeNormal, "ScalingReplicaSet", t0),
			*event("o1", "Pod", "other-5f6d7c8b9-yyyyy", "p-other", corev1.EventTypeWarning, "Failed", t0)}},
		"p2": {ListMeta: metav1.ListMeta{ResourceVersion: "7"}, Items: []corev1.Event{
			*event("e2", "Deployment", "shop", "d-shop", corev1.EventTypeWarning, "ProgressDeadlineExceeded", t0.Add(time.Second))}},
	}
	whole := &corev1.EventList{ListMeta: metav1.ListMeta{ResourceVersion: "9"}, Items: append(append([]corev1.Event{}, pages[""].Items...), pages["p2"].Items...)}
	for _, tt := range []struct {
		name    string
		expired bool
		rv      string
		calls   []string // limit/continue of each list
	}{
		{name: "pages", rv: "7", calls: []string{"500/", "500/p2"}},
		{name: "token expired", expired: true, rv: "9", calls: []string{"500/", "500/p2", "0/"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(&appsv1.Deployment{ObjectMeta: func() metav1.ObjectMeta { m := labelled("shop", "d-shop"); m.Name = "shop"; return m }()})
			var calls []string
			c.PrependReactor("list", "events", func(act clienttesting.Action) (bool, runtime.Object, error) {
				opts := act.(clienttesting.ListActionImpl).ListOptions
				calls = append(calls, fmt.Sprintf("%d/%s", opts.Limit, opts.Continue))
				switch {
				case opts.Limit == 0:
					return true, whole, nil
				case tt.expired && opts.Continue != "":
					return true, nil, apierrors.NewResourceExpired("the continue token expired")
				}
				return true, pages[opts.Continue], nil
			})
			evs, _, rv, err := AppEvents(t.Context(), c, ns, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 2 || evs[0].Reason != "ScalingReplicaSet" || evs[1].Reason != "ProgressDeadlineExceeded" || rv != tt.rv {
				t.Errorf("events %+v at resourceVersion %q; want shop's 2 at %q", evs, rv, tt.rv)
			}
			if len(calls) != len(tt.calls) || (len(calls) > 0 && calls[0] != tt.calls[0]) || calls[len(calls)-1] != tt.calls[len(tt.calls)-1] {
				t.Errorf("lists (limit/continue) %q; want %q", calls, tt.calls)
			}
		})
	}
}
