package deploy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/zzcloud/zz/internal/contract"
)

// book gathers the apps' statuses from what Statuses read, fed in the order
// of the reads: records, Deployments, the other objects, pods. It does no
// I/O, so each rule is read (and tested) apart from the reads.
type book struct {
	// apps by namespace/name: several namespaces may hold one of a name.
	apps map[string]*AppStatus
	// Of each app's latest record: its apply token and its objects.
	tokens map[string]string
	names  map[string][]string
	// recorded: apps with a record, readable or not; older: "app key/token"
	// -> the revision that recorded it.
	recorded map[string]bool
	older    map[string]int64
	// canaries: app key -> the token of its live canary Deployment when no
	// record has it (a kubectl zz deploy --canary that failed, stopped or
	// is under way). That command re-applied the latest record's stable
	// objects as recorded: they carry its token and are no drift.
	canaries map[string]string
	// unrecorded: app key -> apply token -> how many drift lines say a
	// command applied it and recorded nothing; the lock's holder's
	// (locks) become AppStatus.Unrecorded.
	unrecorded map[string]map[string]int
	// present: "app key/Kind/name" of the live objects; listed: the kinds
	// read.
	present, listed map[string]bool
	failures        map[string][]PodIssue
	// unreadable: the records may not be read; scaled: the Deployments an
	// HPA scales (nil: HPAs unreadable, replicas not judged).
	unreadable bool
	scaled     map[string]bool
	// latest: app key -> its latest record; wholes: the live objects whose
	// whole part is judged (DriftJudge), in the order read.
	latest map[string]recordRef
	wholes []wholeLive
	// podsOf: app key -> its pods, read before its Deployments (what their
	// ready pods run: serving).
	podsOf map[string][]*corev1.Pod
}

func newBook(unreadable bool, scaled map[string]bool) *book {
	return &book{apps: map[string]*AppStatus{}, tokens: map[string]string{}, names: map[string][]string{},
		recorded: map[string]bool{}, older: map[string]int64{}, canaries: map[string]string{}, present: map[string]bool{},
		unrecorded: map[string]map[string]int{}, listed: map[string]bool{deploymentOps.kind: true}, failures: map[string][]PodIssue{},
		unreadable: unreadable, scaled: scaled, latest: map[string]recordRef{}, podsOf: map[string][]*corev1.Pod{}}
}

// podsByApp keeps the apps' pods by app, for what each Deployment's ready
// pods run; before deployments.
func (b *book) podsByApp(pods []corev1.Pod) {
	for i := range pods {
		p := &pods[i]
		if app := p.Labels[contract.LabelApp]; app != "" {
			b.podsOf[p.Namespace+"/"+app] = append(b.podsOf[p.Namespace+"/"+app], p)
		}
	}
}

// get is app name of ns, made on first use, and its key.
func (b *book) get(ns, name string) (*AppStatus, string) {
	key := ns + "/" + name
	if b.apps[key] == nil {
		b.apps[key] = &AppStatus{App: name, Namespace: ns, RecordsUnreadable: b.unreadable}
	}
	return b.apps[key], key
}

// records reads the revision records' metadata: each app's latest.
func (b *book) records(secrets []corev1.Secret) {
	for i := range secrets {
		s := &secrets[i]
		name := s.Labels[contract.LabelApp]
		if string(s.Type) != contract.SecretTypeRevision || name == "" {
			continue
		}
		b.recorded[s.Namespace+"/"+name] = true
		rev, err := parseRecordMeta(s)
		if err != nil {
			continue // History reports unreadable records
		}
		if rev.applyID != "" {
			b.older[s.Namespace+"/"+name+"/"+rev.applyID] = rev.Number
		}
		if st, key := b.get(s.Namespace, name); rev.Number > st.Revision {
			st.Revision, st.DeployedAt, st.DeployedBy, st.ChangeCause = rev.Number, rev.Time, rev.User, rev.ChangeCause
			st.NewerRecord = rev.skewText() // the format alone: status decodes no spec
			b.tokens[key], b.names[key] = rev.applyID, rev.names
			b.latest[key] = recordRef{name: s.Name, rv: s.ResourceVersion, number: rev.Number}
		}
	}
}

// deployments reads the apps' Deployments (stable and canary): what runs,
// its drift, its rollout.
func (b *book) deployments(deps []appsv1.Deployment) {
	for i := range deps {
		d := &deps[i]
		app := d.Labels[contract.LabelApp]
		if token := d.Annotations[contract.AnnotationApplyID]; liveCanary(d, app) && token != "" && token != b.tokens[d.Namespace+"/"+app] {
			b.canaries[d.Namespace+"/"+app] = token
		}
	}
	for i := range deps {
		d := &deps[i]
		name := d.Labels[contract.LabelApp]
		if name == "" {
			continue
		}
		b.present[d.Namespace+"/"+name+"/"+deploymentOps.kind+"/"+d.Name] = true
		if d.Name != name && !liveCanary(d, name) {
			continue // the app's labels on another's Deployment
		}
		st, key := b.get(d.Namespace, name)
		rs := RolloutStatus(d)
		r := deploymentReplicas(d, rs, b.podsOf[key])
		if d.Name == name {
			st.Stable = r
		} else {
			st.Canary = r
		}
		st.NoProbes = st.NoProbes || d.Spec.Template.Annotations[contract.AnnotationDebug] == "true"
		token, live := b.tokens[key], d.Annotations[contract.AnnotationApplyID]
		said := false
		if live != "" && live == b.canaries[key] {
			// An unrecorded canary's command: the canary is what it adds
			// (a concurrency audit saw the untouched stable Deployment
			// called drifted after a failed canary).
			token = live
			if d.Name != name {
				st.Drift = append(st.Drift, fmt.Sprintf("deployment %s is the canary of a kubectl zz deploy --canary that recorded no revision (one under way, or one that failed or stopped; kubectl zz abort %s removes it): %s", d.Name, name, runs(r, "")))
				b.applied(key, live, 1)
				said = true
			}
		}
		lines, saidToo, unrecorded := drift(d, r, st.Revision, token, b.recorded[key] || b.unreadable, b.older[key+"/"+live],
			b.scaled != nil && !b.scaled[d.Namespace+"/"+d.Name])
		st.Drift = append(st.Drift, lines...)
		b.applied(key, live, unrecorded)
		if r.RollingOut && !said && !saidToo {
			st.Rollout = append(st.Rollout, fmt.Sprintf("deployment %s: %s", d.Name, runs(r, "")))
		}
		// By content only where it runs the record's apply: live compared
		// with the record's own token (b.tokens), not token, which an
		// unrecorded canary's command replaced above; that canary is
		// another command's, already said, and judging it against the
		// record would call kubectl zz's own apply a spoof. No token
		// (before tokens) on either side: by content.
		recorded := b.tokens[key]
		b.wholes = append(b.wholes, wholeLive{key: key, k: deploymentOps, obj: d, byContent: live == recorded || live == "" || recorded == ""})
		if !rs.Complete {
			st.Health = HealthProgressing
		}
		if rs.ReplicaFailure != "" {
			b.failures[key] = append(b.failures[key], PodIssue{Reason: "ReplicaFailure", Detail: d.Name + ": " + ReplicaFailureWords(rs.ReplicaFailure, &d.Spec.Template.Spec)})
		}
		if rs.Failed != "" {
			b.failures[key] = append(b.failures[key], PodIssue{Reason: "ProgressDeadlineExceeded", Detail: d.Name + ": " + rs.Failed})
		}
	}
}

// objects reads the app's objects of kind k (listed): where the app
// answers, and a spec field another manager owns (drift).
func (b *book) objects(k kindOps, objs []metav1.Object) {
	b.listed[k.kind] = true
	for _, o := range objs {
		b.present[o.GetNamespace()+"/"+o.GetLabels()[contract.LabelApp]+"/"+k.kind+"/"+o.GetName()] = true
		st := b.apps[o.GetNamespace()+"/"+o.GetLabels()[contract.LabelApp]]
		if st == nil || !writtenByZZ(o) {
			continue // the app's labels on another's object: not the app's
		}
		st.Endpoints = append(st.Endpoints, endpoints(o, st.App)...)
		// Applied by a command that recorded nothing (the token of no
		// record; objects applied before tokens carry none).
		key := o.GetNamespace() + "/" + st.App
		token, live := b.tokens[key], o.GetAnnotations()[contract.AnnotationApplyID]
		unrecorded := token != "" && live != "" && live != token && live != b.canaries[key]
		if unrecorded {
			st.Drift = append(st.Drift, fmt.Sprintf("%s %s was applied by a kubectl zz command that recorded no revision (one under way, or one that failed, stopped or lost its lock), and may differ from revision %d (kubectl zz deploy or rollback applies a recorded revision again)",
				strings.ToLower(k.kind), o.GetName(), st.Revision))
			b.applied(key, live, 1)
		}
		if obj, ok := o.(runtime.Object); ok && k.whole != nil {
			b.wholes = append(b.wholes, wholeLive{key: key, k: k, obj: obj, byContent: !unrecorded})
		}
	}
}

// whole adds what v says of w's object to its app.
func (b *book) whole(w wholeLive, v verdict) {
	st := b.apps[w.key]
	if st == nil {
		return
	}
	st.Drift = append(st.Drift, v.lines...)
	switch {
	case st.DriftByName != "":
	case b.unreadable:
		st.DriftByName = "the revision records (Secrets) cannot be read by this user, so there is no revision to judge the objects against"
	default:
		st.DriftByName, st.DriftByNameCause = v.byName, v.cause
	}
}

// missing says which objects of each app's latest revision are gone
// (deleted by hand, or by another tool): nothing else would say so while
// the rest runs. Kinds not read are not judged.
func (b *book) missing() {
	for key, objs := range b.names {
		st := b.apps[key]
		if st == nil || st.Stable == nil && st.Canary == nil {
			continue // Missing: status says the Deployment is gone
		}
		for _, o := range objs {
			kind, name, _ := strings.Cut(o, "/")
			if b.listed[kind] && !b.present[key+"/"+o] {
				st.Drift = append(st.Drift, fmt.Sprintf("%s %s of revision %d is missing: deleted outside kubectl zz (kubectl zz deploy or rollback applies it again)",
					strings.ToLower(kind), name, st.Revision))
			}
		}
	}
}

// locks reads the apps' locks: a live one says which command changes the
// app now; a lapsed one, none.
func (b *book) locks(leases []coordinationv1.Lease, now time.Time) {
	for i := range leases {
		l := &leases[i]
		// By name, as the lock finds it: a Lease of that name written
		// without kubectl zz's labels blocks the app just as well.
		app, _ := strings.CutPrefix(l.Name, lockPrefix)
		app, _ = strings.CutSuffix(app, lockSuffix)
		st := b.apps[l.Namespace+"/"+app]
		if st == nil || l.Name != LockName(st.App) || lapsed(l.Spec, now) {
			continue
		}
		// Only what the holder applied is its change under way: a token
		// of an earlier command that failed or stopped is drift (a
		// review: any lock made such leftovers read "changing").
		if token := l.Annotations[contract.AnnotationApplyID]; token != "" {
			st.Unrecorded = b.unrecorded[l.Namespace+"/"+st.App][token]
		} else {
			// A lock of a kubectl zz before tokens on Leases (a team
			// upgrading one by one): every unrecorded apply counts, as
			// then (a review).
			for _, n := range b.unrecorded[l.Namespace+"/"+st.App] {
				st.Unrecorded += n
			}
		}
		st.ChangingBy = holderOf(l)
		if t := l.Spec.AcquireTime; t != nil {
			st.ChangingBy += " since " + t.Format(time.TimeOnly)
		}
		// A live holder renews every few seconds; a stopped one not: the
		// refusal said so, status did not (a concurrency audit).
		if r := l.Spec.RenewTime; r != nil {
			if age := now.Sub(r.Time); age >= 0 {
				st.ChangingBy += ", last renewed " + duration.HumanDuration(age) + " ago"
			} else {
				st.ChangingBy += ", last renewed ahead of this clock"
			}
		}
		if lapses, stale := staleLock(l.Spec, now); stale {
			st.LockExpires = &metav1.Time{Time: lapses}
		}
	}
}

// pods reads the apps' pods: restarts, pods left to the default scheduler,
// their sidecars' readiness, and why pods are not ready, per namespace with the app of each (their
// events, read by the caller, may say more).
func (b *book) pods(pods []corev1.Pod) (problems map[string][]Problem, owners map[string][]*AppStatus) {
	problems, owners = map[string][]Problem{}, map[string][]*AppStatus{}
	for i := range pods {
		p := &pods[i]
		st := b.apps[p.Namespace+"/"+p.Labels[contract.LabelApp]]
		if st == nil {
			continue
		}
		if pr, ok := PodProblem(p); ok {
			problems[p.Namespace] = append(problems[p.Namespace], pr)
			owners[p.Namespace] = append(owners[p.Namespace], st)
		}
		st.Unbalanced = st.Unbalanced.add(p)
		st.Sidecars = st.Sidecars.add(p)
		if p.DeletionTimestamp == nil {
			for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
				st.Restarts += cs.RestartCount
				if t := cs.LastTerminationState.Terminated; t != nil && cs.RestartCount > 0 && t.FinishedAt.After(st.LastRestart) {
					st.LastRestart = t.FinishedAt.Time
				}
			}
		}
	}
	return problems, owners
}

// zoneGaps judges each app's zone spread (ZoneGapOf) against nodes; none
// without nodes (unread, or no app with a spread to judge).
func (b *book) zoneGaps(pods []corev1.Pod, nodes []corev1.Node) {
	if len(nodes) == 0 {
		return
	}
	byApp := map[string][]corev1.Pod{}
	for i := range pods {
		key := pods[i].Namespace + "/" + pods[i].Labels[contract.LabelApp]
		byApp[key] = append(byApp[key], pods[i])
	}
	for key, ps := range byApp {
		if st := b.apps[key]; st != nil {
			st.ZoneGap = ZoneGapOf(ps, nodes)
		}
	}
}

// statuses is every app, its health judged, sorted by namespace and name.
func (b *book) statuses() []*AppStatus {
	out := make([]*AppStatus, 0, len(b.apps))
	for key, st := range b.apps {
		st.Issues = append(b.failures[key], st.Issues...)
		// An Ingress's URLs before the Service's in-cluster address.
		slices.SortStableFunc(st.Endpoints, func(a, b string) int {
			return cmp.Compare(strings.Index(b, "://"), strings.Index(a, "://"))
		})
		st.Unbalanced.sort()
		st.Sidecars.sort()
		slices.SortStableFunc(st.Issues, func(a, b PodIssue) int { return strings.Compare(a.Pod, b.Pod) })
		switch {
		case st.Stable == nil && st.Canary == nil:
			st.Health = HealthMissing
		case len(st.Issues) > 0:
			st.Health = HealthDegraded
		case st.Health == "":
			st.Health = HealthReady
		}
		if st.Health == HealthReady {
			// Its budgets allow a disruption again once its pods are
			// ready, unless one is made to allow none ever (not this
			// note's matter).
			st.BlockingBudgets = nil
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *AppStatus) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.App, b.App))
	})
	return out
}

// applied counts n drift lines of app key that say a command applied
// token and recorded nothing.
func (b *book) applied(key, token string, n int) {
	if n == 0 {
		return
	}
	if b.unrecorded[key] == nil {
		b.unrecorded[key] = map[string]int{}
	}
	b.unrecorded[key][token] += n
}
