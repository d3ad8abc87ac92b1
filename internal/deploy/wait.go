package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/prose"
	"github.com/zzcloud/zz/internal/render"
)

// ErrRolloutFailed is wrapped by every error that means the pods did not
// become ready; the message carries the reason.
var ErrRolloutFailed = errors.New("rollout failed")

// lastLook bounds the read that tells an interrupted wait whether the
// rollout had completed all the same.
const lastLook = 5 * time.Second

// ErrInterrupted means the wait was stopped (Ctrl-C, SIGTERM: the caller's
// context) before the rollout ended: what was applied stays, unrecorded,
// unless the command restores the last revision (restore).
var ErrInterrupted = errors.New("interrupted")

// logLines is how many lines of a crash-looping container's log are shown.
const logLines = 10

// progress writes the live progress line: rewritten in place on a terminal,
// otherwise one line whenever the state changes.
type progress struct {
	out   io.Writer
	live  bool
	width int // of the terminal; a live line is cut to fit, or it would wrap
	last  string
	// lastWhy is the reason last printed on a line of its own (live only).
	lastWhy string
}

// update shows head (the counts) and why the rollout waits, if it does.
func (p *progress) update(head, why, state string) {
	if p.out == nil {
		return
	}
	// Pod messages are the namespace's to write: escaped, as table cells
	// (one line), so none moves the cursor or rewrites the terminal.
	head, why = prose.Cell(head), prose.Cell(why)
	line := head
	if why != "" {
		line += "; waiting: " + why
	}
	if p.live {
		fits := func(s string) bool { return p.width <= 1 || len([]rune(s)) < p.width }
		if !fits(line) {
			// Cut, the line would lose the reason, the one part worth
			// reading: it goes on a line of its own when it changes, and the
			// live line keeps the counts.
			if why != p.lastWhy {
				fmt.Fprintf(p.out, "\r\033[Kwaiting: %s\n", why)
				p.lastWhy = why
			}
			line = head
		}
		if r := []rune(line); !fits(line) {
			line = string(r[:p.width-2]) + "…"
		}
		fmt.Fprintf(p.out, "\r\033[K%s", line)
		return
	}
	if state != p.last {
		fmt.Fprintln(p.out, line)
		p.last = state
	}
}

// note prints a line that stays, after the live one (escaped: it may
// quote pod messages).
func (p *progress) note(line string) {
	line = prose.Terminal(line)
	switch {
	case p.out == nil:
	case p.live:
		fmt.Fprintf(p.out, "\n%s", line) // done ends it
	default:
		fmt.Fprintln(p.out, line)
	}
}

func (p *progress) done() {
	if p.out != nil && p.live {
		fmt.Fprintln(p.out)
	}
}

// waitRollout follows the app's Deployment until its rollout completes, the
// controller reports a missed progress deadline, or the timeout passes; then
// it returns ErrRolloutFailed with why the pods are not ready. When another
// writer changes the Deployment that cl applied, it stops with ErrSuperseded.
// Rolled out, it applies what cl left for then (a Service moved to a port
// only the new pods have: servesLate). Without --timeout, the wait lasts as
// long as st's pods may take to start, batch by batch (waitTimeout).
func waitRollout(ctx context.Context, c kubernetes.Interface, ns, app string, o *Options, cl *claim, st podStart) error {
	if err := waitPods(ctx, c, ns, app, o, cl, st); err != nil {
		return err
	}
	if cl == nil {
		return nil
	}
	if o.NoWait {
		// Nothing is left for later: applyObjects refuses --wait=false
		// where it would be (noWaitMove).
		return nil
	}
	// What the late apply notes (another writer's fields taken back) is
	// said as the notes before the wait were.
	before := len(cl.notes)
	err := applyLate(ctx, c, ns, app, cl)
	if o.Progress != nil {
		for _, n := range cl.notes[before:] {
			fmt.Fprintln(o.Progress, prose.Terminal(n))
		}
	}
	return err
}

// waitPods is waitRollout's wait.
func waitPods(ctx context.Context, c kubernetes.Interface, ns, app string, o *Options, cl *claim, st podStart) error {
	w := &waiter{c: c, ns: ns, app: app, start: o.now(), o: o, cl: cl,
		p: &progress{out: o.Progress, live: o.Live, width: o.Width}}
	defer w.p.done()
	if cl != nil && o.Progress != nil {
		for _, n := range cl.notes { // they name other writers (field managers)
			fmt.Fprintln(o.Progress, prose.Terminal(n))
		}
	}
	if o.NoWait {
		return nil
	}
	var stored *appsv1.Deployment
	if cl != nil {
		stored = cl.deployed[app]
	}
	timeout, why := waitTimeout(o, app, st, stored)
	if why != "" && o.Progress != nil {
		fmt.Fprintln(o.Progress, why)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(o.PollInterval)
	defer tick.Stop()
	// A watch wakes the loop as soon as the controller updates the status;
	// the ticker keeps the elapsed time moving and covers a failed watch.
	var events <-chan watch.Event
	wi, err := c.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", app).String()})
	if err == nil {
		defer wi.Stop()
		events = wi.ResultChan()
	}
	for {
		if done, err := w.check(ctx); done {
			return err
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				// The signal may have come as the rollout completed: a
				// last look, so an interrupt landing after the work is
				// done does not undo it (or leave it unrecorded).
				look, cancel := context.WithTimeout(context.WithoutCancel(ctx), lastLook)
				done, err := w.check(look)
				cancel()
				if done && err == nil {
					return nil
				}
				return fmt.Errorf("%w while waiting for %s/%s (%v)", ErrInterrupted, ns, app, parent.Err())
			}
			what := fmt.Sprintf("not ready after %s", timeout)
			if w.last.soaking() {
				what = w.last.notAvailable(timeout)
			}
			if w.last.ReplicaFailure != "" {
				// In the progress line's words: a webhook that does not
				// answer was said there and dropped here (an incident
				// audit).
				what += ": " + w.failureWords + w.quotaFull
			}
			// Reads cut by the deadline are not counted (cutByDeadline).
			if w.failedReads > 0 {
				w.seen.readErr = w.lastErr
			}
			return failure(context.WithoutCancel(ctx), c, ns, app, what, w.last.ReplicaFailure, &w.seen)
		case <-tick.C:
		case _, ok := <-events:
			if !ok {
				events = nil // closed: poll only
			}
		}
	}
}

// waiter is the state of one rollout wait.
type waiter struct {
	c       kubernetes.Interface
	ns, app string
	start   time.Time
	o       *Options
	cl      *claim
	p       *progress
	last    Status
	lastErr error
	// failedReads counts reads failed in a row.
	failedReads int
	// seen is the pods' problems at the last read that could list them.
	seen podsSeen
	// quotaFull is quotaFullHint at the last read.
	quotaFull string
	// failureWords is the last ReplicaFailure in ReplicaFailureWords.
	failureWords string
}

// podsSeen is what the waiter last read of the pods: the cause a failure
// names when the apiserver does not answer at the deadline (an incident
// audit: the ImagePullBackOff printed every second was missing from the
// final error, which then read as an infrastructure failure in a CI log).
type podsSeen struct {
	summary string
	at      time.Time
	// readErr is the waiter's last failed read at its deadline (nil: none
	// failed): said by failure unless its own read fails too, which says
	// the same outage once.
	readErr error
}

// check reads the Deployment once, prints progress, and says whether the
// wait is over (err nil: rolled out).
func (w *waiter) check(ctx context.Context) (bool, error) {
	d, err := w.c.AppsV1().Deployments(w.ns).Get(ctx, w.app, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// Deleted by another writer (kubectl delete, a lapsed lock's new
		// holder): restoring would bring back what it removed (a tenant
		// audit saw a deleted app's public Ingress come back).
		return true, fmt.Errorf("%w: %w: deployment %s/%s was deleted during the rollout; this command recorded nothing and restores nothing (kubectl zz status %s shows what is left)",
			ErrRolloutFailed, ErrSuperseded, w.ns, w.app, strings.TrimSuffix(w.app, contract.CanarySuffix))
	case err != nil && cutByDeadline(ctx, err):
		return false, nil // the wait's own end, not news about the cluster
	case err != nil:
		// Transient (network, throttling): keep polling until the timeout.
		w.lastErr = err
		w.failedReads++
		return false, nil
	}
	w.lastErr, w.failedReads = nil, 0
	if err := w.cl.holds(d); err != nil {
		return true, err
	}
	st := RolloutStatus(d)
	why := ""
	if !st.Complete {
		if pods, err := appPods(ctx, w.c, w.ns, w.app); err == nil {
			why = Summary(problemsOf(pods))
			w.seen = podsSeen{summary: why, at: w.o.now()}
			if st.soaking() {
				st.SoakLeft = SoakLeft(pods, time.Duration(st.MinReady)*time.Second, w.o.now())
			}
		}
		w.failureWords = ReplicaFailureWords(st.ReplicaFailure, &d.Spec.Template.Spec)
		if why == "" {
			why = w.failureWords
		}
		w.quotaFull = quotaFullHint(d, st.ReplicaFailure)
		if w.quotaFull != "" && !strings.Contains(why, w.quotaFull) {
			why += w.quotaFull
		}
	}
	w.last = st
	// The soak's countdown alone is no new state: a log gets a line when
	// the counts or the reason change, not every second of it.
	state := st
	state.SoakLeft = 0
	w.p.update(fmt.Sprintf("%s: %s, %s elapsed", w.app, st, w.o.now().Sub(w.start).Round(time.Second)), why, state.String()+why)
	switch {
	case st.Complete:
		for _, note := range w.placementNotes(ctx) {
			w.p.note("Warning: " + note)
		}
		return true, nil
	case st.Failed != "":
		what := st.Failed
		if st.ReplicaFailure != "" { // as at the timeout
			what += ": " + w.failureWords
		}
		return true, failure(ctx, w.c, w.ns, w.app, what, st.ReplicaFailure, &w.seen)
	case st.Observed && RefusedAtAdmission(st.ReplicaFailure) && newReplicaSetRefused(ctx, w.c, d):
		// No pod of this spec will be admitted until the spec or the
		// policy changes: waiting out --timeout would only repeat it.
		return true, failure(ctx, w.c, w.ns, w.app, "refused at admission: "+w.failureWords, st.ReplicaFailure, &w.seen)
	}
	return false, nil
}

// newReplicaSetRefused says the Deployment's current ReplicaSet (the one
// of its revision) reports the refusal itself. The Deployment's condition
// may still be a previous ReplicaSet's (a refused first deploy, which the
// controller has not cleared yet), which says nothing of this one's pods:
// the deploy that fixed the spec was called failed (an upgrade audit).
// Unreadable, or with no ReplicaSet of the revision, it trusts the
// Deployment's condition, as before.
func newReplicaSetRefused(ctx context.Context, c kubernetes.Interface, d *appsv1.Deployment) bool {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return true
	}
	list, err := c.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return true
	}
	for i := range list.Items {
		rs := &list.Items[i]
		if !metav1.IsControlledBy(rs, d) || rs.Annotations[contract.AnnotationDeploymentRevision] != d.Annotations[contract.AnnotationDeploymentRevision] {
			continue
		}
		for _, cond := range rs.Status.Conditions {
			if cond.Type == appsv1.ReplicaSetReplicaFailure && cond.Status == corev1.ConditionTrue && RefusedAtAdmission(cond.Reason+": "+cond.Message) {
				return true
			}
		}
		return false
	}
	// None of its revision: the controller, which has observed the spec,
	// made it in the same sync, so none is found only where ReplicaSets are
	// not kept as the controller keeps them: trust the Deployment.
	return true
}

// placementNotes say where the rollout's pods run otherwise than asked:
// left to the default scheduler (Unbalanced), or in fewer zones than
// spec.zoneSpread would put them in now (ZoneGapOf: a deploy after a zone
// outage, or a scale, lands them where the spread counts the pods already
// there). None when the pods or nodes may not be read (the rollout is
// done either way).
func (w *waiter) placementNotes(ctx context.Context) []string {
	pods, err := w.c.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: podSelector(w.app)})
	if err != nil {
		return nil
	}
	app, _ := strings.CutSuffix(w.app, contract.CanarySuffix) // the canary's restart is the app's
	var notes []string
	if u := Unbalanced(pods.Items); u != nil {
		notes = append(notes, u.Note(app))
	}
	if g := ZoneGapOf(pods.Items, zoneNodes(ctx, w.c, pods.Items)); g != nil {
		notes = append(notes, g.Note(app))
	}
	return notes
}

// cutByDeadline says a read failed because the wait's deadline came: the
// context is done, or client-go's rate limiter refused to wait past it
// ("rate: Wait(n=1) would exceed context deadline", which wraps nothing).
// Such a failure says nothing about the cluster, so a timeout does not
// report it as a failed read.
func cutByDeadline(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "would exceed context deadline")
}

// ReplicaFailureWords is a Deployment's ReplicaFailure as zz says it
// (progress, the failure, status): the apiserver's words, then what a zz
// webhook that does not answer adds (WebhookDown), or the app spec's
// field behind a refusal (SpecWords); pod is the Deployment's pod
// template.
func ReplicaFailureWords(replicaFailure string, pod *corev1.PodSpec) string {
	if replicaFailure == "" {
		return ""
	}
	return replicaFailure + WebhookDown(replicaFailure) + SpecWords(replicaFailure, pod)
}

// WebhookDown is what a ReplicaFailure the zz webhook caused by not
// answering adds (the apiserver's words name only the call that failed);
// "" for any other.
func WebhookDown(replicaFailure string) string {
	if !strings.Contains(replicaFailure, "failed calling webhook") || !strings.Contains(replicaFailure, contract.WebhookPath) {
		return ""
	}
	return "; the zz webhook does not answer, so no pod of this namespace can be created until it does (kubectl zz check; kubectl -n " +
		contract.SystemNamespace + " get pods -l " + contract.LabelK8sName + "=" + contract.ComponentWebhook + ")"
}

// RefusedAtAdmission reports whether a ReplicaFailure is a refusal of the
// pods that retrying the same spec cannot change: the zz webhook's, the
// namespace's Pod Security level, a LimitRange's bounds, a
// ValidatingAdmissionPolicy's (zz's policies where the webhook does not
// serve: a hostile-tenant audit waited out 5 minutes on one). Waiting out
// --timeout on one only repeats it (an app-developer audit); a
// ResourceQuota's, which a pod going away lifts, is waited on.
func RefusedAtAdmission(replicaFailure string) bool {
	return RefusedByZZWebhook(replicaFailure) ||
		strings.Contains(replicaFailure, "violates PodSecurity ") ||
		limitRangeRefusal.MatchString(replicaFailure) ||
		policyRefusal.MatchString(replicaFailure)
}

// policyRefusal matches the apiserver's words for a ValidatingAdmissionPolicy
// binding with validationActions Deny
// (k8s.io/apiserver/pkg/admission/plugin/policy/validating).
var policyRefusal = regexp.MustCompile(`ValidatingAdmissionPolicy '[^']*' with binding '[^']*' denied request`)

// RefusedByZZWebhook says whether an apiserver error or a ReplicaFailure
// is the zz webhook's refusal of a pod.
func RefusedByZZWebhook(msg string) bool {
	return strings.Contains(msg, "denied the request: "+contract.WebhookRefusalPrefix)
}

// limitRangeRefusal matches the LimitRanger admission plugin's refusals
// (plugin/pkg/admission/limitranger): a container's or pod's bounds.
var limitRangeRefusal = regexp.MustCompile(`(maximum|minimum) \S+ usage per (Container|Pod|PersistentVolumeClaim) is \S+, but (limit|request) is|max limit to request ratio per (Container|Pod) is`)

// failure builds the error a person reads: what happened and why the pods are
// not ready, with the last log lines of a crash-looping container. When the
// pods cannot be read now, it names seen (the waiter's last read of them,
// nil for none) with its time. Where only a zz component's outage held the
// rollout up (outage, judged with the Deployment's replicaFailure), it is
// an OutageError, whose next step is no fix (fixNext).
func failure(ctx context.Context, c kubernetes.Interface, ns, app, what, replicaFailure string, seen *podsSeen) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	problems, err := podProblems(ctx, c, ns, app)
	switch {
	case err != nil && seen != nil && seen.summary != "":
		return fmt.Errorf("%w: %s/%s %s: %s (as last seen at %s; the apiserver did not answer at the deadline: %v)",
			ErrRolloutFailed, ns, app, what, seen.summary, seen.at.Format(time.TimeOnly), err)
	case err != nil:
		return fmt.Errorf("%w: %s/%s %s (pods unreadable: %v)", ErrRolloutFailed, ns, app, what, err)
	case seen != nil && seen.readErr != nil:
		what += fmt.Sprintf(" (last read failed: %v)", seen.readErr)
	}
	ExplainStarting(ctx, c, ns, problems)
	msg := fmt.Sprintf("%s/%s %s", ns, app, what)
	if s := Summary(problems); s != "" {
		msg += ": " + s
	}
	if i := slices.IndexFunc(problems, func(p Problem) bool { return p.GPUWaits }); i >= 0 {
		if h := surgeHint(ctx, c, ns, app); h != "" {
			msg += h
		} else {
			// How many of the pods fit, where a scale past the cards'
			// room restores the last revision and says only that its pods
			// waited (an ML-engineer audit: 42 of 60 would have run).
			msg += "\n" + problems[i].GPUFit + " says where a pod of this size fits now and how many more the nodes could take (MORE)"
		}
	}
	for _, p := range problems {
		if p.Reason == ReasonCrashLoop {
			of := p.Pod
			if p.Container != "" && p.Container != render.ContainerName {
				of += " container " + p.Container
			}
			msg += "\nlast log lines of " + of + ":\n" + lastLogs(ctx, c, ns, p.Pod, p.Container)
			break
		}
	}
	return fmt.Errorf("%w: %s", rolloutFailed(outage(replicaFailure, problems)), msg)
}

// surgeHint says, for a Deployment whose rollout waits for GPU memory
// while its old pods run, that the waiting pod is the rollout's extra one
// and how to roll without it: the scheduler's "largest free card ... <
// asked" read as a full cluster, where the running pod's own memory would
// have done (an ML-engineer audit).
func surgeHint(ctx context.Context, c kubernetes.Interface, ns, name string) string {
	d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || !surging(d) || d.Status.Replicas <= d.Status.UpdatedReplicas {
		return ""
	}
	return fmt.Sprintf("\nthe pod that waits for GPU memory is the rollout's extra one (surge): the running pods keep theirs until it is ready; spec.rollout: replace takes an old pod down first and gives its memory to the new one (or free memory: kubectl zz gpu --fit pod/NAME -n %s)", ns)
}

// surging says d rolls out by surge alone: an extra new pod first, an old
// one going only once a new one is ready. A maxUnavailable that scales to
// one pod or more (a hand-edited or adopted Deployment: zz renders 0) lets
// the controller take an old pod down first, and the words built on this
// would be false. Scaled as the Deployment controller does: surge rounded
// up, unavailable down; unset is the API's default, 25%.
func surging(d *appsv1.Deployment) bool {
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxSurge == nil || d.Spec.Replicas == nil {
		return false
	}
	replicas := int(*d.Spec.Replicas)
	unavailable := intstr.FromString("25%")
	if ru.MaxUnavailable != nil {
		unavailable = *ru.MaxUnavailable
	}
	surge, err1 := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, replicas, true)
	down, err2 := intstr.GetScaledValueFromIntOrPercent(&unavailable, replicas, false)
	return err1 == nil && err2 == nil && surge > 0 && down == 0
}

var quotaExceeded = regexp.MustCompile(`exceeded quota: ([^,\s]+), requested: (\S+), used: (\S+), limited: (\S+)`)

// quotaFullHint says, for a surge rollout refused by a quota already full
// at the app's current pods (a used == limited resource the new pod asks
// for, no old pod to go: none goes before a new one is ready), that waiting
// cannot help and what does; "" otherwise. An incident audit waited out the
// whole --timeout for "fix it and deploy again".
func quotaFullHint(d *appsv1.Deployment, replicaFailure string) string {
	m := quotaExceeded.FindStringSubmatch(replicaFailure)
	if m == nil || !surging(d) || d.Spec.Replicas == nil || d.Status.Replicas < *d.Spec.Replicas {
		return ""
	}
	list := func(s string) map[string]resource.Quantity {
		out := map[string]resource.Quantity{}
		for kv := range strings.SplitSeq(strings.TrimRight(s, ",."), ",") {
			k, v, ok := strings.Cut(kv, "=")
			if q, err := resource.ParseQuantity(v); ok && err == nil {
				out[k] = q
			}
		}
		return out
	}
	used, limited := list(m[3]), list(m[4])
	var full []string
	for r := range list(m[2]) {
		if u, ok := used[r]; ok {
			if l, ok := limited[r]; ok && u.Cmp(l) >= 0 {
				full = append(full, r)
			}
		}
	}
	if len(full) == 0 {
		return ""
	}
	slices.Sort(full)
	return fmt.Sprintf("; the quota %s is full (%s) at the app's current pods: the rollout's extra pod (surge) cannot be created, and no old pod goes before a new one is ready, so waiting does not help: raise quota %s by one pod's requests, or use spec.rollout: replace (it takes an old pod down first)",
		m[1], strings.Join(full, ", "), m[1])
}

// podSelector selects the pods of Deployment name: a canary's
// (<app>-canary) or the stable one's, whose selector matches the canary's
// pods too.
func podSelector(name string) string {
	if app, ok := strings.CutSuffix(name, contract.CanarySuffix); ok {
		return contract.LabelApp + "=" + app + "," + contract.LabelTrack + "=" + contract.TrackCanary
	}
	return contract.LabelApp + "=" + name + "," + contract.LabelTrack + "!=" + contract.TrackCanary
}

// podProblems says why the pods of Deployment app (or of a canary) are not ready.
func podProblems(ctx context.Context, c kubernetes.Interface, ns, app string) ([]Problem, error) {
	pods, err := appPods(ctx, c, ns, app)
	if err != nil {
		return nil, err
	}
	return problemsOf(pods), nil
}

// appPods lists the pods of Deployment app (or of a canary).
func appPods(ctx context.Context, c kubernetes.Interface, ns, app string) ([]corev1.Pod, error) {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: podSelector(app)})
	if err != nil {
		return nil, err
	}
	return pods.Items, nil
}

// problemsOf is why each of pods is not ready, where one is not.
func problemsOf(pods []corev1.Pod) []Problem {
	var problems []Problem
	for i := range pods {
		if p, ok := PodProblem(&pods[i]); ok {
			problems = append(problems, p)
		}
	}
	return problems
}

// lastLogs returns the tail of the previous (crashed) container's log, or of
// the current one when there is no previous.
func lastLogs(ctx context.Context, c kubernetes.Interface, ns, pod, container string) string {
	if container == "" {
		container = render.ContainerName
	}
	opts := &corev1.PodLogOptions{Container: container, TailLines: ptr.To[int64](logLines), Previous: true}
	b, err := c.CoreV1().Pods(ns).GetLogs(pod, opts).DoRaw(ctx)
	if err != nil {
		opts.Previous = false
		b, err = c.CoreV1().Pods(ns).GetLogs(pod, opts).DoRaw(ctx)
	}
	if err != nil {
		return "  (logs unavailable: " + err.Error() + ")"
	}
	return logTail(string(b), opts.Previous)
}

// logTail is a container's log tail as the failure prints it, indented;
// for a log with nothing in it, which run logged nothing (previous: the
// crashed one): a blank block read as lines lost (an incident audit).
func logTail(log string, previous bool) string {
	switch {
	case strings.TrimSpace(log) != "":
		lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
		return "  " + strings.Join(lines, "\n  ")
	case previous:
		return "  (its last run logged nothing)"
	default:
		return "  (its current run has logged nothing yet)"
	}
}
