package cli

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/zzcloud/zz/internal/deploy"
)

// statusRefresh is how often --watch reads everything again without being
// told of a change: for what it does not watch (a Service's drift, a
// quota's refusal) and a watch that missed an event.
const statusRefresh = 30 * time.Second

// changes tells of every change to what status shows, as kubectl get -w
// does, instead of reading every list each interval: it watches the apps'
// Deployments, pods and revision records in every target and sends on the
// returned channel (at most one send pending) when one of them changes. A
// watch that breaks is opened again from where it was; one the user may not
// open (list but not watch) turns into a poll every interval.
func (o *StatusOptions) changes(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	notify := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	sel, podSel := deploy.StatusSelectors(o.App)
	for _, t := range o.targets {
		ns := t.namespace
		if o.AllNamespaces {
			ns = metav1.NamespaceAll
		}
		opens := []func(context.Context, metav1.ListOptions) (watch.Interface, error){
			func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
				lo.LabelSelector = sel
				return t.client.AppsV1().Deployments(ns).Watch(ctx, lo)
			},
			func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
				lo.LabelSelector = podSel
				return t.client.CoreV1().Pods(ns).Watch(ctx, lo)
			},
			func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
				lo.LabelSelector = sel
				return t.client.CoreV1().Secrets(ns).Watch(ctx, lo)
			},
		}
		for _, open := range opens {
			go o.follow(ctx, open, notify)
		}
	}
	return ch
}

// follow keeps one watch open until ctx ends, calling notify on every change.
func (o *StatusOptions) follow(ctx context.Context, open func(context.Context, metav1.ListOptions) (watch.Interface, error), notify func()) {
	rv := "" // from now: the first events replay what exists, one extra read
	for ctx.Err() == nil {
		w, err := open(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			// Not watchable by this user, or the apiserver is away: poll.
			notify()
			select {
			case <-ctx.Done():
				return
			case <-time.After(o.Interval):
			}
			continue
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				rv = "" // expired (410) or refused: start again from now
				break
			}
			if m, err := meta.Accessor(ev.Object); err == nil {
				rv = m.GetResourceVersion()
			}
			if ev.Type != watch.Bookmark {
				notify()
			}
		}
		w.Stop()
	}
}
