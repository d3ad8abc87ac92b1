package deploy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
)

// AppEvent is one Kubernetes event about an object of an app: its
// Deployments, their ReplicaSets and pods (deleted ones too), Service,
// Ingress, HPA, PDB and volume claims.
type AppEvent struct {
	App       string    `json:"app"`
	Namespace string    `json:"namespace"`
	LastSeen  time.Time `json:"lastSeen"`
	Type      string    `json:"type"`
	Reason    string    `json:"reason"`
	// Object is kind/name in lower case, as kubectl events prints it.
	Object  string `json:"object"`
	Message string `json:"message"`
	Count   int32  `json:"count,omitempty"`
	// Name is the Event object's own name.
	Name string `json:"name"`
}

// EventMatcher tells the events of an app's objects (every app kubectl zz
// deployed in the namespace, when built for no app) from the namespace's
// others: by the involved object's UID for the objects that exist, and, for
// pods and ReplicaSets already gone, by the names their Deployment gives
// them (<deployment>-<hash>, <deployment>-<hash>-<suffix>), with the
// characters the controllers draw them from (podNameRule).
type EventMatcher struct {
	uids  map[types.UID]string
	names []nameRule
	// jobs are the namespace/name of the Jobs that exist: a Job named like
	// a ReplicaSet of the app (shop-bcd) names its pods as the app's would
	// be named (shop-bcd-x7k2p), so those are the Job's.
	jobs map[string]bool
}

type nameRule struct {
	ns, app string
	re      *regexp.Regexp
}

// NewEventMatcher lists the objects of app (all apps when "") in ns (every
// namespace when metav1.NamespaceAll).
func NewEventMatcher(ctx context.Context, c kubernetes.Interface, ns, app string) (*EventMatcher, error) {
	sel := contract.LabelApp
	if app != "" {
		sel = contract.LabelApp + "=" + app
	}
	opts := metav1.ListOptions{LabelSelector: sel}
	m := &EventMatcher{uids: map[types.UID]string{}}
	lists := []func() (runtime.Object, error){
		func() (runtime.Object, error) { return c.AppsV1().Deployments(ns).List(ctx, opts) },
		func() (runtime.Object, error) { return c.AppsV1().ReplicaSets(ns).List(ctx, opts) },
		func() (runtime.Object, error) { return c.CoreV1().Pods(ns).List(ctx, opts) },
		func() (runtime.Object, error) { return c.CoreV1().Services(ns).List(ctx, opts) },
		func() (runtime.Object, error) { return c.CoreV1().PersistentVolumeClaims(ns).List(ctx, opts) },
		func() (runtime.Object, error) { return c.NetworkingV1().Ingresses(ns).List(ctx, opts) },
		func() (runtime.Object, error) { return c.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, opts) },
		func() (runtime.Object, error) { return c.PolicyV1().PodDisruptionBudgets(ns).List(ctx, opts) },
	}
	// The apps whose gone pods and ReplicaSets are matched by name, per
	// namespace: those whose Deployments were listed, and app wherever it
	// has an object (its Deployments may come and go).
	type owner struct{ ns, app string }
	owners := map[owner]bool{}
	for i, list := range lists {
		l, err := list()
		if err != nil {
			return nil, fmt.Errorf("list the objects of %s %s: %w", appOrApps(app), inNamespace(ns), err)
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			o, err := meta.Accessor(it)
			if err != nil {
				return nil, err
			}
			name := o.GetLabels()[contract.LabelApp]
			m.uids[o.GetUID()] = name
			if i == 0 || app != "" {
				owners[owner{o.GetNamespace(), name}] = true
			}
		}
	}
	if app != "" && ns != metav1.NamespaceAll {
		owners[owner{ns, app}] = true
	}
	// Without the right to list Jobs, a pod of a Job named like the app's
	// ReplicaSets may be taken for the app's.
	if jl, err := c.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{}); err == nil {
		m.jobs = make(map[string]bool, len(jl.Items))
		for _, j := range jl.Items {
			m.jobs[j.Namespace+"/"+j.Name] = true
		}
	}
	for o := range owners {
		names := regexp.QuoteMeta(o.app) + "|" + regexp.QuoteMeta(o.app+contract.CanarySuffix)
		m.names = append(m.names, nameRule{ns: o.ns, app: o.app, re: regexp.MustCompile(`^(` + names + `)` + podNameRule)})
	}
	return m, nil
}

// inNamespace says where a list looked, for its errors.
func inNamespace(ns string) string {
	if ns == metav1.NamespaceAll {
		return "in all namespaces"
	}
	return "in " + ns
}

// podNameRule is what follows the Deployment's name in its ReplicaSets'
// and pods' names. The ReplicaSet's is the pod-template-hash: the decimal
// digits of a uint32, each mapped through k8s.io/apimachinery's
// rand.SafeEncodeString, which maps '0'-'9' onto "456789bcdf". The pod's is
// generateName's 5 characters from rand.String's alphabet, which has no
// vowels. So a Job's pod "shop-migrate-x7k2p" is not taken for a pod of
// the app shop.
const podNameRule = `-[4-9bcdf]{1,10}(-[bcdfghjklmnpqrstvwxz2456789]{5})?$`

func appOrApps(app string) string {
	if app == "" {
		return "the apps"
	}
	return app
}

// Match returns the app ev is about, false when it is about none.
func (m *EventMatcher) Match(ev *corev1.Event) (string, bool) {
	if app, ok := m.uids[ev.InvolvedObject.UID]; ok && ev.InvolvedObject.UID != "" {
		return app, true
	}
	if k := ev.InvolvedObject.Kind; k != "Pod" && k != "ReplicaSet" {
		return "", false
	}
	name := ev.InvolvedObject.Name
	if ev.InvolvedObject.Kind == "Pod" && len(name) > 6 && m.jobs[ev.Namespace+"/"+name[:len(name)-6]] {
		return "", false // <job>-<5 characters>: the Job's pod
	}
	for _, r := range m.names {
		if r.ns == ev.Namespace && r.re.MatchString(name) {
			return r.app, true
		}
	}
	return "", false
}

// Event is ev as an AppEvent of app.
func Event(app string, ev *corev1.Event) AppEvent {
	return AppEvent{App: app, Namespace: ev.Namespace, LastSeen: lastSeen(ev), Type: ev.Type, Reason: ev.Reason,
		Object: strings.ToLower(ev.InvolvedObject.Kind) + "/" + ev.InvolvedObject.Name, Message: strings.TrimSpace(ev.Message),
		Count: eventCount(ev), Name: ev.Name}
}

// lastSeen is when the event last happened, whichever API wrote it.
func lastSeen(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.CreationTimestamp.Time
}

func eventCount(ev *corev1.Event) int32 {
	if ev.Series != nil {
		return ev.Series.Count
	}
	return ev.Count
}

// ErrEventType is wrapped by the error for a --types value that is not an
// event type.
var ErrEventType = errors.New("not an event type")

// EventTypes reads a comma-separated list of event types (Normal, Warning,
// any case); empty means both.
func EventTypes(s string) (map[string]bool, error) {
	if s == "" {
		return nil, nil
	}
	types := map[string]bool{}
	for _, t := range strings.Split(s, ",") {
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "normal":
			types[corev1.EventTypeNormal] = true
		case "warning":
			types[corev1.EventTypeWarning] = true
		default:
			return nil, fmt.Errorf("%w: %q; use Normal, Warning or both (Normal,Warning)", ErrEventType, t)
		}
	}
	return types, nil
}

// AppEvents lists the events of app (every app when "") in ns (every
// namespace when metav1.NamespaceAll), of the types given (nil: all), oldest
// first.
func AppEvents(ctx context.Context, c kubernetes.Interface, ns, app string, types map[string]bool) ([]AppEvent, *EventMatcher, string, error) {
	m, err := NewEventMatcher(ctx, c, ns, app)
	if err != nil {
		return nil, nil, "", err
	}
	var out []AppEvent
	opts := metav1.ListOptions{Limit: eventsPage}
	for {
		list, err := c.CoreV1().Events(ns).List(ctx, opts)
		if apierrors.IsResourceExpired(err) && opts.Continue != "" {
			// The continue token expired (a slow reader, a compaction):
			// list them again whole, as client-go's pager does.
			out, opts = nil, metav1.ListOptions{}
			continue
		}
		if err != nil {
			return nil, nil, "", fmt.Errorf("list events %s: %w", inNamespace(ns), err)
		}
		for i := range list.Items {
			ev := &list.Items[i]
			if owner, ok := m.Match(ev); ok && (types == nil || types[ev.Type]) {
				out = append(out, Event(owner, ev))
			}
		}
		if list.Continue == "" || opts.Limit == 0 {
			SortEvents(out)
			return out, m, list.ResourceVersion, nil
		}
		opts.Continue = list.Continue
	}
}

// eventsPage is how many events AppEvents lists at a time (kubectl get
// events' chunk size): each page is matched as it comes, so only the apps'
// events are kept, never the whole namespace's (cluster's, with -A) at
// once.
const eventsPage = 500

// SortEvents orders events oldest first (CompareEvents).
func SortEvents(evs []AppEvent) { slices.SortStableFunc(evs, CompareEvents) }

// CompareEvents orders events by when they were last seen, then by object
// and reason, so equal times print the same way every time.
func CompareEvents(a, b AppEvent) int {
	if c := a.LastSeen.Compare(b.LastSeen); c != 0 {
		return c
	}
	if c := strings.Compare(a.Object, b.Object); c != 0 {
		return c
	}
	return strings.Compare(a.Reason, b.Reason)
}
