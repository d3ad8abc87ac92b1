package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/internal/render"
)

// waitingReasons are container waiting states a person must act on.
var waitingReasons = map[string]bool{
	"CrashLoopBackOff":           true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// ReasonCrashLoop is the waiting reason for which the last log lines are fetched.
const ReasonCrashLoop = "CrashLoopBackOff"

// Problem is why one pod is not ready.
type Problem struct {
	Pod    string
	Reason string // Unschedulable, CrashLoopBackOff, ImagePullBackOff, NotReady, Pending, ...
	Detail string
	// Container is the container the reason is about, when it is one's
	// (the one whose last log lines explain a crash loop).
	Container string
	// Starting says the pod is on a node and its containers have not
	// started, with no reason in its status: its events say why (a volume
	// that cannot be mounted, a sandbox that cannot be created), see
	// ExplainStarting.
	Starting bool
	// GPUKilled says a container of a pod that asks for GPU memory was
	// killed (exit 137, not by the kernel's OOM killer): the zz device
	// plugin's over-request kill, whose event ExplainStarting adds.
	GPUKilled bool
	// Unhealthy names a running container that fails its readiness probe: the
	// kubelet's Unhealthy event says how (a 404, a refused connection),
	// which ExplainStarting adds.
	Unhealthy string
	// UnhealthyProbe is the probe Unhealthy fails: "Startup" for a
	// sidecar's startup (which holds initCommand and the app), else
	// readiness.
	UnhealthyProbe string
	// GPUWaits says the pod asks for GPU memory and no node has room for
	// it: a rollout's extra pod (surge) may be what needs the room.
	GPUWaits bool
	// GPUFit is the kubectl zz gpu --fit command that judges a pod of its
	// request (set with GPUWaits).
	GPUFit string
	// Claims are the pod's volume claims when the scheduler waits for them
	// to bind: the claim's own Warning event says why (no storage class, a
	// provisioner's refusal), which ExplainStarting adds.
	Claims []string
	// IfZZSchedulerLeads is the detail of a pod zz-scheduler has not tried
	// (Untried) for when its Lease says it leads: Detail supposes it is
	// down, and ExplainStarting reads the Lease ("" for other pods).
	IfZZSchedulerLeads string
	// Down names the zz component whose outage keeps the pod waiting
	// (zz-scheduler, which has not tried it; the zz extender, which did not
	// answer), "" for none: the pod starts by itself once it is back, with
	// nothing of the app's to fix (outage).
	Down string
	// Replaces is the name prefix of a pod the scheduler cannot place now
	// (its generateName: its ReplicaSet's): ExplainStarting says when pods
	// of that prefix were preempted, so an app whose pods gave way to a
	// higher priority says so, where it only said it waits for room.
	Replaces string
}

func (p Problem) String() string {
	if p.Detail == "" {
		return p.Reason
	}
	return p.Reason + ": " + p.Detail
}

// PodProblem says why pod is not ready, or ok=false when it is ready or on
// its way out. It is pure, so every case is a table row.
func PodProblem(pod *corev1.Pod) (p Problem, ok bool) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded {
		return Problem{}, false
	}
	p.Pod = pod.Name
	if pod.Status.Phase == corev1.PodFailed && pod.Status.Reason == reasonEvicted {
		// Not Pending: it never runs again (its ReplicaSet makes another).
		return Problem{Pod: pod.Name, Reason: reasonEvicted, Detail: strings.TrimSuffix(strings.TrimSpace(pod.Status.Message), ".") + scratchHint(pod)}, true
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			p.Reason, p.Detail = c.Reason, c.Message
			if p.Reason == "" {
				p.Reason = "Unschedulable"
			}
			if p.Reason == corev1.PodReasonSchedulerError {
				if words := extenderDown(c.Message); words != "" {
					p.Detail, p.Down = p.Detail+words, contract.ComponentExtender
				}
			} else {
				p.Detail += GPUAskHint(pod, c.Message) + ZoneSpreadHint(pod, c.Message) + PoolHint(pod, c.Message)
				// Room now, not cards too small ever: only then would the
				// old pods' memory do (a review saw replace advised for a
				// pod no node holds).
				_, err := gpushare.PodRequest(pod)
				p.GPUWaits = err == nil && (strings.Contains(c.Message, "MiB free") || strings.Contains(c.Message, "largest free card"))
				if p.GPUWaits {
					p.GPUFit = FitCommand(pod)
				}
			}
			if strings.Contains(c.Message, "unbound") && strings.Contains(c.Message, "PersistentVolumeClaims") {
				for _, v := range pod.Spec.Volumes {
					if v.PersistentVolumeClaim != nil {
						p.Claims = append(p.Claims, v.PersistentVolumeClaim.ClaimName)
					}
				}
			}
			if c.Reason == corev1.PodReasonUnschedulable {
				p.Replaces = pod.GenerateName
			}
			// A GPU pod zz preempts for waits for its victims, not for luck.
			if rec, err := gpushare.ParseNominationRecord(pod.Annotations[contract.AnnotationGPUNomination]); err == nil && pod.Spec.NodeName == "" {
				p.Detail += fmt.Sprintf("; zz evicted lower-priority pods on node %s for it and keeps their GPU memory for it: it runs once they are gone", rec.Node)
			}
			return p, true
		}
	}
	// Init containers first: while one fails the others never start, and
	// their status says only that they wait (kubectl: Init:CrashLoopBackOff).
	for i, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range statuses {
			w := cs.State.Waiting
			if w == nil || !waitingReasons[w.Reason] {
				continue
			}
			p.Reason, p.Detail, p.Container = w.Reason, w.Message, cs.Name
			what := "container " + cs.Name
			if i == 0 {
				what = "init container " + cs.Name
				if nativeSidecar(pod, cs.Name) { // spec.sidecars: it runs beside the app
					what = "sidecar " + cs.Name
				}
				if p.Detail == "" {
					p.Detail = what
				} else {
					p.Detail = what + ": " + p.Detail
				}
			}
			if t := cs.LastTerminationState.Terminated; t != nil && w.Reason == ReasonCrashLoop {
				p.Detail = fmt.Sprintf("%s exited with code %d (%s), restarted %d times", what, t.ExitCode, t.Reason, cs.RestartCount)
				if m := terminationMessage(t.Message); m != "" {
					p.Detail += ": " + m
				}
				if _, err := gpushare.PodRequest(pod); err == nil && t.ExitCode == 128+9 && t.Reason != "OOMKilled" {
					p.GPUKilled = true
				}
			}
			return p, true
		}
	}
	if podReady(pod) {
		return Problem{}, false
	}
	if pod.Spec.NodeName == "" {
		d, leads := notScheduled(pod, time.Now())
		p := Problem{Pod: pod.Name, Reason: "Pending", Detail: d, IfZZSchedulerLeads: leads}
		if leads != "" { // zz-scheduler has not tried it
			p.Down = contract.SchedulerName
		}
		return p, true
	}
	return onNode(pod), true
}

// onNode says why pod, on its node and not failing a container's start,
// is not ready. Native sidecars (spec.sidecars) count as the app's
// containers do: a front proxy that fails its readiness keeps the pod out
// of the Service as the app would, and one whose startup has not passed
// holds initCommand and the app (an app-developer audit saw both blamed
// on the node).
func onNode(pod *corev1.Pod) Problem {
	running, ready, all := 0, 0, 0
	for i, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range statuses {
			if i == 0 && !nativeSidecar(pod, cs.Name) {
				continue // a plain init container has finished by now
			}
			all++
			if cs.State.Running != nil && !cs.Ready {
				d := fmt.Sprintf("container %s runs but its readiness probe%s fails", cs.Name, probeOf(pod, cs.Name, readinessProbe))
				probe := readinessProbe
				switch {
				case i == 1 && !ptr.Deref(cs.Started, false) && probeOf(pod, cs.Name, startupProbe) != "":
					// spec.startupTimeout (java's 3 min): the kubelet tries
					// no readiness before the startup probe passes, and its
					// events are the startup probe's.
					probe = startupProbe
					d = fmt.Sprintf("container %s runs but has not started: its startup probe%s fails", cs.Name, probeOf(pod, cs.Name, startupProbe))
				case i == 0 && !ptr.Deref(cs.Started, false) && sidecarProbe(pod, cs.Name, startupProbe) != "":
					// spec.sidecars[].startup: what holds the app.
					probe = startupProbe
					d = fmt.Sprintf("sidecar %s runs but has not started: %s fails; initCommand and the app wait for it", cs.Name, sidecarProbe(pod, cs.Name, startupProbe))
				case i == 0:
					d = fmt.Sprintf("sidecar %s runs but is not ready: %s fails", cs.Name, cmp.Or(sidecarProbe(pod, cs.Name, readinessProbe), "its readiness probe"))
				}
				return Problem{Pod: pod.Name, Reason: "NotReady", Unhealthy: cs.Name, UnhealthyProbe: probe, Detail: d}
			}
			if cs.State.Running != nil {
				running++
			}
			if cs.Ready {
				ready++
			}
		}
	}
	if pod.Status.Phase == corev1.PodRunning && running > 0 && ready == all {
		// The node lifecycle controller marks pods not ready when their node
		// stops reporting; the kubelet marks them ready again when it is back.
		return Problem{Pod: pod.Name, Reason: "NotReady", Detail: fmt.Sprintf("containers are ready but the pod is not; check node %s (kubectl get node %s)",
			pod.Spec.NodeName, pod.Spec.NodeName)}
	}
	return Problem{Pod: pod.Name, Reason: "Pending", Detail: fmt.Sprintf("phase %s on node %s", pod.Status.Phase, pod.Spec.NodeName), Starting: true}
}

// nativeSidecar says whether pod's init container name runs beside the
// app (restartPolicy Always), as spec.sidecars render.
func nativeSidecar(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return contract.IsNativeSidecar(c)
		}
	}
	return false
}

// The probes a Problem's Unhealthy container fails, as the kubelet's
// Unhealthy event starts ("Readiness probe failed: ...").
const (
	readinessProbe = "Readiness"
	startupProbe   = "Startup"
)

// sidecarProbe is "TCP connect to port auth (4180)" for the readiness (or
// startup) probe of pod's native sidecar name (zz gives a front port's, and
// a startup's), with the number of a named port, since a sidecar's ports
// are not the app's; "" for none.
func sidecarProbe(pod *corev1.Pod, name, which string) string {
	for _, c := range pod.Spec.InitContainers {
		p := c.ReadinessProbe
		if which == startupProbe {
			p = c.StartupProbe
		}
		if c.Name != name || p == nil {
			continue
		}
		port := func(p intstr.IntOrString) string {
			for _, cp := range c.Ports {
				if p.Type == intstr.String && cp.Name == p.StrVal {
					return fmt.Sprintf("%s (%d)", p.StrVal, cp.ContainerPort)
				}
			}
			return p.String()
		}
		switch h := p.ProbeHandler; {
		case h.HTTPGet != nil:
			return fmt.Sprintf("%s GET %s on port %s", cmp.Or(string(h.HTTPGet.Scheme), "HTTP"), cmp.Or(h.HTTPGet.Path, "/"), port(h.HTTPGet.Port))
		case h.TCPSocket != nil:
			return "TCP connect to port " + port(h.TCPSocket.Port)
		}
	}
	return ""
}

// probeOf is " (GET /health on port http)" for the readiness (or startup)
// probe of pod's container name, as kubectl describe pod names it; "" for
// none.
func probeOf(pod *corev1.Pod, name, which string) string {
	for _, c := range pod.Spec.Containers {
		p := c.ReadinessProbe
		if which == startupProbe {
			p = c.StartupProbe
		}
		if c.Name != name || p == nil {
			continue
		}
		switch h := p.ProbeHandler; {
		case h.HTTPGet != nil:
			return fmt.Sprintf(" (%s %s on port %s)", cmp.Or(string(h.HTTPGet.Scheme), "HTTP")+" GET", cmp.Or(h.HTTPGet.Path, "/"), h.HTTPGet.Port.String())
		case h.TCPSocket != nil:
			return " (TCP connect to port " + h.TCPSocket.Port.String() + ")"
		case h.GRPC != nil:
			return fmt.Sprintf(" (gRPC health on port %d)", h.GRPC.Port)
		case h.Exec != nil:
			return " (exec " + commandWords(h.Exec.Command) + ")"
		}
	}
	return ""
}

// commandWords writes cmd as one line, each argument with a blank or
// none quoted, so that [sh, -c, "pg_isready -U app"] does not read as five
// words.
func commandWords(cmd []string) string {
	out := make([]string, len(cmd))
	for i, a := range cmd {
		out[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n\"'") {
			out[i] = strconv.Quote(a)
		}
	}
	return strings.Join(out, " ")
}

// UntriedAfter is how long a pod may wait with no scheduler's verdict
// before status asks whether its scheduler runs: a scheduler that has tried
// a pod marks it within a second (bound, or PodScheduled=False), so after
// this only a long queue or a scheduler that is not there explains it.
const UntriedAfter = 30 * time.Second

// Untried says pod is on no node and no scheduler has judged it (no
// PodScheduled condition) in the UntriedAfter since it was created.
func Untried(pod *corev1.Pod, now time.Time) bool {
	if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || pod.CreationTimestamp.IsZero() || now.Sub(pod.CreationTimestamp.Time) < UntriedAfter {
		return false
	}
	return !slices.ContainsFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodScheduled })
}

// UntriedReason says why a pod no scheduler has judged (Untried) waits, or
// "" when a scheduler has: a pod naming a scheduler that does not run
// (zz-scheduler down, a typo in schedulerName) waits for it forever, with
// nothing in its status or events to say so.
func UntriedReason(pod *corev1.Pod, now time.Time) string {
	if !Untried(pod, now) {
		return ""
	}
	name := pod.Spec.SchedulerName
	if name == "" {
		name = corev1.DefaultSchedulerName
	}
	// No age in the words: pods that wait alike share one summary line.
	d := fmt.Sprintf("no scheduler has tried it in over %s; is scheduler %q running?", duration.HumanDuration(UntriedAfter), name)
	if name == contract.SchedulerName {
		d += " (kubectl zz check)"
	}
	return d
}

// notScheduledYet is the detail of a pod no scheduler has judged yet, in
// the UntriedAfter since it was made: a wait that says nothing of a cause.
const notScheduledYet = "not scheduled yet"

// notScheduled is the detail of a pod on no node (UntriedReason), and for
// one zz-scheduler has not tried, its detail if zz-scheduler leads.
func notScheduled(pod *corev1.Pod, now time.Time) (d, ifLeads string) {
	d = UntriedReason(pod, now)
	if d == "" {
		return notScheduledYet, ""
	}
	d = "not scheduled yet: " + d
	if pod.Spec.SchedulerName != contract.SchedulerName {
		return d, ""
	}
	// A leading zz-scheduler that tries no pod is held up, most likely by
	// its extender: a hung one holds the scheduling loop httpTimeout per
	// GPU pod (a chaos audit was told it was down, and to delete the pod).
	ifLeads = fmt.Sprintf("not scheduled yet: no scheduler has tried it in over %s; %s leads (its Lease %s/%s is renewed) but its queue is held up: is the zz extender answering? (kubectl zz check; kubectl -n %s logs deployment/%s -c %s)",
		duration.HumanDuration(UntriedAfter), contract.SchedulerName, contract.SystemNamespace, contract.SchedulerName,
		contract.SystemNamespace, contract.SchedulerName, contract.ComponentExtender)
	// The webhook sends pods created while zz-scheduler is down to the
	// default scheduler; those created before it noticed keep waiting.
	if metav1.GetControllerOf(pod) != nil {
		if _, err := gpushare.PodRequest(pod); errors.Is(err, gpushare.ErrNoGPU) {
			d += "; while it is down the zz webhook sends new pods to the default scheduler, so deleting this pod has it replaced there"
		} else {
			d += "; a GPU pod waits for it (only zz-scheduler gives cards)"
		}
	}
	return d, ifLeads
}

// zzSchedulerLeads says whether zz-scheduler's leader-election Lease is
// held and renewed within its duration (judged on renewTime: this clock is
// not the cluster's, so a grace of DefaultLeaseGrace's size is given);
// known is false when the Lease cannot be read (a developer may not read
// zz-system).
func zzSchedulerLeads(ctx context.Context, c kubernetes.Interface, now time.Time) (leads, known bool) {
	l, err := c.CoordinationV1().Leases(contract.SystemNamespace).Get(ctx, contract.SchedulerName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, true
	}
	if err != nil {
		return false, false
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || l.Spec.RenewTime == nil {
		return false, true
	}
	d := 15 * time.Second
	if s := l.Spec.LeaseDurationSeconds; s != nil && *s > 0 {
		d = time.Duration(*s) * time.Second
	}
	return now.Before(l.Spec.RenewTime.Add(d + 15*time.Second)), true
}

// schedulerOrExtender is Problem.Down of a pod zz-scheduler has not tried
// where its Lease cannot be read: either may hold it up (a review: a
// developer, who may not read zz-system, was told as a fact that
// zz-scheduler was down when its extender was).
const schedulerOrExtender = contract.SchedulerName + " (or its extender)"

// GPUAskHint says why a GPU pod waits when no room would help (msg is its
// scheduler's verdict; "" when not known): it asks for GPU memory but names
// a scheduler that cannot give it cards (its namespace not served by the zz
// webhook, which routes such pods; without zz.io/gpu, which the webhook adds,
// zz-scheduler would refuse it too), or it asks for nvidia.com/ resources
// (a pod written for NVIDIA's device plugin or HAMi), alone or beside
// zz.io/gpu-mem, where no node offers them. "" for any other pod.
func GPUAskHint(pod *corev1.Pod, msg string) string {
	nvidia := corev1.ResourceName("")
	if msg == "" || strings.Contains(msg, "Insufficient "+contract.NVIDIAResourcePrefix) {
		nvidia = gpushare.NVIDIAAsk(pod)
	}
	if _, err := gpushare.PodRequest(pod); !errors.Is(err, gpushare.ErrNoGPU) {
		if name := pod.Spec.SchedulerName; name != contract.SchedulerName {
			if name == "" {
				name = corev1.DefaultSchedulerName
			}
			fix := ""
			if !gpushare.AsksGPU(pod) {
				fix = fmt.Sprintf(" and add %s: 1 beside %s", contract.ResourceGPU, contract.ResourceGPUMem)
			}
			return fmt.Sprintf("; it asks for %s, which only %s places, but names scheduler %q: label namespace %s %s=%s (the zz webhook routes such pods), or set schedulerName: %s%s",
				contract.ResourceGPUMem, contract.SchedulerName, name, pod.Namespace, contract.LabelInjection, contract.InjectionEnabled, contract.SchedulerName, fix)
		}
		if nvidia != "" {
			return "; it " + gpushare.BesideNVIDIA(nvidia)
		}
		return ""
	}
	if nvidia != "" {
		return fmt.Sprintf("; it asks for %s, which no node offers here: zz shares GPUs as %s (GPU memory on each card) and %s (cards), so ask for those (%s: 1 becomes %s: the card's memory, with annotation %s: \"true\" for a card of its own)",
			nvidia, contract.ResourceGPUMem, contract.ResourceGPU, nvidia, contract.ResourceGPUMem, contract.AnnotationGPUWhole)
	}
	return ""
}

// extenderDown is what a scheduler error reaching the zz extender adds:
// kube-scheduler says only that its HTTP call failed.
func extenderDown(msg string) string {
	if !strings.Contains(msg, "/gpu/") && !strings.Contains(msg, "/balance/") {
		return ""
	}
	return "; the zz scheduler extender did not answer zz-scheduler: is the zz-extender container of the zz-scheduler pods running? (kubectl zz check; kubectl -n " +
		contract.SystemNamespace + " logs deployment/" + contract.SchedulerName + " -c " + contract.ComponentExtender + ")"
}

// maxEventLookups bounds the event reads of one ExplainStarting: a rollout
// of a hundred stuck pods usually has one reason.
const maxEventLookups = 5

// ExplainStarting reads the events that say more than a pod's status:
// the generic reason of pods that are on a node but have not started
// (Problem.Starting) becomes their latest Warning event, as kubectl describe
// pod shows it (FailedMount: MountVolume.SetUp failed for volume "db" :
// secret "db" not found); a crash of a GPU pod killed with SIGKILL
// (Problem.GPUKilled) gets the zz device plugin's over-request kill added,
// when that is what killed it. Events it may not read, or none, leave the
// problem as it was.
func ExplainStarting(ctx context.Context, c kubernetes.Interface, ns string, problems []Problem) {
	looked, read, leads, known := 0, false, false, false // the Lease read once
	var preempted []corev1.Event
	readPreempted := false // the namespace's Preempted events, read once
	for i := range problems {
		p := &problems[i]
		if p.Replaces != "" {
			if !readPreempted {
				readPreempted = true
				preempted = preemptions(ctx, c, ns)
			}
			p.Detail += PreemptedNote(preempted, p.Replaces, time.Now())
		}
		if p.IfZZSchedulerLeads != "" {
			if !read {
				read = true
				leads, known = zzSchedulerLeads(ctx, c, time.Now())
			}
			switch {
			case leads:
				// It runs: its extender holds the queue up.
				p.Detail, p.Down = p.IfZZSchedulerLeads, contract.ComponentExtender
			case !known:
				p.Down = schedulerOrExtender
			}
			continue
		}
		if len(p.Claims) > 0 && looked < maxEventLookups {
			looked++
			p.Detail += claimsWaiting(ctx, c, ns, p.Claims)
			continue
		}
		if !p.Starting && !p.GPUKilled && p.Unhealthy == "" || looked == maxEventLookups {
			continue
		}
		looked++
		reason := ""
		switch {
		case p.GPUKilled:
			reason = contract.ReasonGPUMemoryOverRequestKilled
		case p.Unhealthy != "":
			reason = "Unhealthy" // the kubelet's failed probe
		}
		latest := latestWarning(ctx, c, ns, "Pod", p.Pod, reason, func(ev *corev1.Event) bool {
			// The probe it fails (readiness, a sidecar's startup), not a liveness probe's, nor another container's.
			// "failed": the check said no (a status code, an exit code);
			// "errored": it could not run (an exec the runtime refused).
			probe := cmp.Or(p.UnhealthyProbe, readinessProbe)
			return p.Unhealthy == "" || (strings.HasPrefix(ev.Message, probe+" probe failed") || strings.HasPrefix(ev.Message, probe+" probe errored")) &&
				(ev.InvolvedObject.FieldPath == "" || ev.InvolvedObject.FieldPath == "spec.containers{"+p.Unhealthy+"}" ||
					ev.InvolvedObject.FieldPath == "spec.initContainers{"+p.Unhealthy+"}")
		})
		switch {
		case latest == nil:
		case p.GPUKilled:
			p.Detail += "; the zz device plugin " + strings.TrimSpace(latest.Message)
		case p.Unhealthy != "":
			// Without the pod's IP, so that pods failing alike are one line.
			p.Detail += ": " + podIP.ReplaceAllString(strings.TrimSpace(latest.Message), "<pod IP>")
			if strings.Contains(latest.Message, "statuscode: 404") {
				p.Detail += "; the app answers 404 there: set spec.healthPath to a path it serves (or deploy --debug to look inside)"
			}
			if p.Unhealthy == render.ContainerName && strings.Contains(latest.Message, "executable file not found") {
				p.Detail += "; the image has no such program: spec.healthCommand must name one it has, by its path or on its PATH (or deploy --debug to look inside)"
			}
		default:
			p.Reason, p.Detail = latest.Reason, strings.TrimSpace(latest.Message)
		}
	}
}

// claimsWaiting says why the first of claims that is not bound waits: its
// phase and latest Warning event, as kubectl describe pvc shows them (the
// scheduler says only "pod has unbound immediate PersistentVolumeClaims",
// and a developer may not list StorageClasses: an app-developer audit).
func claimsWaiting(ctx context.Context, c kubernetes.Interface, ns string, claims []string) string {
	for _, name := range claims {
		pvc, err := c.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || pvc.Status.Phase == corev1.ClaimBound {
			continue
		}
		out := fmt.Sprintf("; claim %s is %s", name, cmp.Or(string(pvc.Status.Phase), "Pending"))
		if latest := latestWarning(ctx, c, ns, "PersistentVolumeClaim", name, "", nil); latest != nil {
			out += ": " + latest.Reason + ": " + strings.TrimSpace(latest.Message)
		}
		if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName == "" {
			out += " (it names no storage class, and the cluster had no default one when it was made: set spec.pvc.storageClass; kubectl get storageclass lists them)"
		}
		return out
	}
	return ""
}

// preemptions are the Preempted events of pods in ns (kube-scheduler's
// and the zz extender's: the same reason); nil when there are none or
// events cannot be read.
func preemptions(ctx context.Context, c kubernetes.Interface, ns string) []corev1.Event {
	l, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.AndSelectors(
		fields.OneTermEqualSelector("involvedObject.kind", "Pod"), fields.OneTermEqualSelector("reason", contract.ReasonPreempted)).String()})
	if err != nil {
		return nil
	}
	return l.Items
}

// PreemptedNote says how many pods named prefix+suffix events show
// preempted, and the latest one's message: "" for none. A pod the
// scheduler cannot place whose ReplicaSet lost pods to a higher priority
// waits for the room they took (a GPU audit: status said only that the
// largest free card was too small).
func PreemptedNote(events []corev1.Event, prefix string, now time.Time) string {
	pods := map[string]bool{}
	var latest *corev1.Event
	for i := range events {
		ev := &events[i]
		name := ev.InvolvedObject.Name
		// A ReplicaSet's pods are its name, "-" and a 5-character suffix:
		// never another ReplicaSet's whose name has this one's as prefix.
		if ev.InvolvedObject.Kind != "Pod" || ev.Reason != contract.ReasonPreempted || !strings.HasPrefix(name, prefix) || strings.Contains(name[len(prefix):], "-") {
			continue
		}
		pods[name] = true
		if latest == nil || lastSeen(ev).After(lastSeen(latest)) {
			latest = ev
		}
	}
	if latest == nil {
		return ""
	}
	what := "a pod of its ReplicaSet was"
	if len(pods) > 1 {
		what = fmt.Sprintf("%d pods of its ReplicaSet were", len(pods))
	}
	return fmt.Sprintf("; %s preempted by a pod of higher priority (the latest %s ago: %s)",
		what, duration.HumanDuration(now.Sub(lastSeen(latest))), strings.TrimSuffix(strings.TrimSpace(latest.Message), "."))
}

// latestWarning is the latest Warning event of the object kind/name in ns
// (of reason, when not ""), among those keep takes (all when nil); nil when
// there is none or events cannot be read. The fields are checked again for
// a client that does not filter by them.
func latestWarning(ctx context.Context, c kubernetes.Interface, ns, kind, name, reason string, keep func(*corev1.Event) bool) *corev1.Event {
	terms := []fields.Selector{fields.OneTermEqualSelector("involvedObject.kind", kind),
		fields.OneTermEqualSelector("involvedObject.name", name), fields.OneTermEqualSelector("type", corev1.EventTypeWarning)}
	if reason != "" {
		terms = append(terms, fields.OneTermEqualSelector("reason", reason))
	}
	l, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.AndSelectors(terms...).String()})
	if err != nil {
		return nil
	}
	var latest *corev1.Event
	for i := range l.Items {
		ev := &l.Items[i]
		if ev.InvolvedObject.Kind != kind || ev.InvolvedObject.Name != name || ev.Type != corev1.EventTypeWarning || reason != "" && ev.Reason != reason ||
			keep != nil && !keep(ev) {
			continue
		}
		if latest == nil || lastSeen(ev).After(lastSeen(latest)) {
			latest = ev
		}
	}
	return latest
}

// podIP matches an IPv4 or bracketed IPv6 address in a probe's message
// (dial tcp 10.0.0.5:8080).
var podIP = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b|\[[0-9a-fA-F:]+\]`)

// Summary is one line for all pod problems: the most common first, with how
// many pods share it.
func Summary(problems []Problem) string {
	if len(problems) == 0 {
		return ""
	}
	count := map[string]int{}
	example := map[string]string{}
	for _, p := range problems {
		k := p.String()
		count[k]++
		if _, ok := example[k]; !ok {
			example[k] = p.Pod
		}
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if count[keys[i]] != count[keys[j]] {
			return count[keys[i]] > count[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if count[k] == 1 {
			parts = append(parts, fmt.Sprintf("pod %s: %s", example[k], k))
		} else {
			parts = append(parts, fmt.Sprintf("%d pods (e.g. %s): %s", count[k], example[k], k))
		}
	}
	return strings.Join(parts, "; ")
}

// Status is a Deployment's rollout progress.
type Status struct {
	Want, Ready, Updated, Total, Available int32
	Complete                               bool
	// Observed is false until the Deployment controller has seen the
	// current spec: until then the counts are the previous rollout's, and
	// "3/3 updated" would say the new one is done before it began.
	Observed bool
	// Failed is set when the controller gave up (progress deadline).
	Failed string
	// ReplicaFailure is why the controller cannot create pods (quota,
	// admission), when it says so.
	ReplicaFailure string
	// MinReady is the Deployment's minReadySeconds: a ready pod counts as
	// available, and so towards Complete, only once it has stayed ready
	// this long (spec.minReadySeconds).
	MinReady int32
	// SoakLeft is how long until the ready pods are all available, where
	// the waiter read it from them (SoakLeft); 0 where unknown.
	SoakLeft time.Duration
}

// RolloutStatus reads d the way kubectl rollout status does: complete when
// the current generation is observed and every replica is updated and
// available with no old one left. Available, not ready: with
// minReadySeconds a pod is available only once it has stayed ready that
// long (the Deployment's own count), so a version that crashes soon after
// its first readiness is not called rolled out.
func RolloutStatus(d *appsv1.Deployment) Status {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	st := Status{Want: want, Ready: s.ReadyReplicas, Updated: s.UpdatedReplicas, Total: s.Replicas, Available: s.AvailableReplicas, MinReady: d.Spec.MinReadySeconds}
	observed := s.ObservedGeneration >= d.Generation
	st.Observed = observed
	st.Complete = observed && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want
	for _, c := range s.Conditions {
		// A missed deadline of an earlier generation says nothing about the
		// current one until the controller has seen it (kubectl's rule).
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" && observed {
			st.Failed = c.Message
		}
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			st.ReplicaFailure = c.Reason + ": " + c.Message
		}
	}
	return st
}

func (s Status) String() string {
	if !s.Observed {
		// kubectl rollout status: "Waiting for deployment spec update to be observed".
		return fmt.Sprintf("%d/%d ready, %d total, new spec not yet seen by the Deployment controller", s.Ready, s.Want, s.Total)
	}
	out := fmt.Sprintf("%d/%d ready, %d/%d updated, %d total", s.Ready, s.Want, s.Updated, s.Want, s.Total)
	if extra := s.Total - s.Want; s.Updated >= s.Want && extra > 0 {
		// kubectl rollout status: "N old replicas are pending termination";
		// after a scale down, "7/5 ready" alone read as a miscount.
		out += fmt.Sprintf(", %d pending termination", extra)
	}
	return out + s.soakWords()
}

// reasonEvicted is the reason the kubelet gives a pod it evicted.
const reasonEvicted = "Evicted"

// emptyDirOver finds the volume in the kubelet's eviction message of a
// pod whose emptyDir outgrew its sizeLimit.
var emptyDirOver = regexp.MustCompile(`Usage of EmptyDir volume "(` + render.ScratchVolumePrefix + `\d+)" exceeds the limit`)

// scratchHint names the spec.scratch directory that outgrew its size, by
// its path in the pod, from the kubelet's eviction message ("" for another
// eviction). Not by index: an evicted pod stays until pod GC, and the
// index is the revision's it came from, maybe not the spec's now.
func scratchHint(pod *corev1.Pod) string {
	m := emptyDirOver.FindStringSubmatch(pod.Status.Message)
	if m == nil || len(pod.Spec.Containers) == 0 {
		return ""
	}
	for _, vm := range pod.Spec.Containers[0].VolumeMounts {
		if vm.Name == m[1] {
			return fmt.Sprintf("; it is the spec.scratch directory at %s: raise its size, or have the app remove what it no longer needs there", vm.MountPath)
		}
	}
	return ""
}

// FitCommand is the kubectl zz gpu --fit command that judges a pod of
// pod's GPU request in its namespace: by its size and choices, which
// outlive the pod (a failed rollout's restore deletes the pods that waited,
// so --fit pod/NAME found none: a review); pod/NAME where the request
// cannot be read.
func FitCommand(pod *corev1.Pod) string {
	req, _, err := gpushare.PodPlacement(pod, gpushare.Binpack)
	if err != nil {
		return fmt.Sprintf("kubectl zz gpu --fit pod/%s -n %s", pod.Name, pod.Namespace)
	}
	args := []string{"kubectl zz gpu --fit", resource.NewQuantity(req.MemMiB<<20, resource.BinarySI).String()}
	if req.Cards > 1 {
		args = append(args, "--cards", strconv.Itoa(req.Cards))
	}
	for _, f := range []struct{ flag, v string }{{"--gpu-model", req.Models}, {"--avoid-gpu-model", req.AvoidModels},
		{"--gpu-card", req.UUIDs}, {"--avoid-gpu-card", req.AvoidUUIDs}, {"--policy", pod.Annotations[contract.AnnotationGPUPolicy]}} {
		if f.v != "" {
			args = append(args, f.flag, shellWord(f.v))
		}
	}
	if req.SameNUMA {
		args = append(args, "--numa-bind")
	}
	if req.Whole {
		args = append(args, "--whole")
	}
	return strings.Join(append(args, "-n", pod.Namespace), " ")
}

// shellWord is s quoted for a shell where it holds more than letters,
// digits and ,._-: model names are a pod writer's words.
func shellWord(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
