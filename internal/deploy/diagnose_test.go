package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

func pod(status corev1.PodStatus, node string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns, Labels: map[string]string{contract.LabelApp: "shop"}},
		Spec: corev1.PodSpec{NodeName: node}, Status: status}
}

func waiting(reason, msg string) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}},
	}}}
}

// preempted is a GPU pod the extender preempts for, waiting for its victims.
func preempted() *corev1.Pod {
	p := pod(corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: "Unschedulable", Message: "0/8 nodes are available: 8 node(s) refused by the extender."}}}, "")
	p.Annotations = map[string]string{contract.AnnotationGPUNomination: gpushare.NominationRecord{Node: "gpu-3", Since: time.Now()}.Encode()}
	return p
}

// untried is a pod created age ago that no scheduler has marked.
func untried(scheduler string, age time.Duration) *corev1.Pod {
	p := pod(corev1.PodStatus{Phase: corev1.PodPending}, "")
	p.Spec.SchedulerName = scheduler
	p.CreationTimestamp = metav1.NewTime(time.Now().Add(-age))
	return p
}

func ownedPod(p *corev1.Pod) *corev1.Pod {
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "shop-1", UID: "u", Controller: ptr.To(true)}}
	return p
}

func TestPodProblem(t *testing.T) {
	crash := waiting("CrashLoopBackOff", "back-off 40s")
	crash.ContainerStatuses[0].RestartCount = 4
	crash.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}
	crashMsg := waiting("CrashLoopBackOff", "back-off 40s")
	crashMsg.ContainerStatuses[0].RestartCount = 2
	crashMsg.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error",
		Message: "  config: key \"db\" missing\ngoroutine 1 [running]:\n"}
	initCrash := corev1.PodStatus{Phase: corev1.PodPending,
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate", RestartCount: 3,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}}
	initPull := corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{Name: "fetch",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "reg/fetch:1"`}}}}}
	// A native sidecar (spec.sidecars) that crash-loops beside a running app.
	sidecarCrash := pod(corev1.PodStatus{Phase: corev1.PodRunning,
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "db-proxy", RestartCount: 5,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "missing --credentials-file"}}}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, "n1")
	sidecarCrash.Spec.InitContainers = []corev1.Container{{Name: "db-proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
	// A front sidecar (oauth2-proxy on 4180) running but failing the TCP
	// readiness zz gives its front port, beside a ready app.
	sidecarUnready := func(sidecarReady bool, probe bool) *corev1.Pod {
		p := pod(corev1.PodStatus{Phase: corev1.PodRunning,
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "init", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}},
				{Name: "auth", Ready: sidecarReady, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, "n1")
		auth := corev1.Container{Name: "auth", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
			Ports: []corev1.ContainerPort{{Name: "auth", ContainerPort: 4180}}}
		if probe {
			auth.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("auth")}}}
		}
		p.Spec.InitContainers = []corev1.Container{{Name: "init"}, auth}
		return p
	}
	// A db proxy whose startup (spec.sidecars[].startup) has not passed:
	// initCommand waits for it, the app has not started.
	sidecarStarting := pod(corev1.PodStatus{Phase: corev1.PodPending,
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "db-proxy", Started: ptr.To(false), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			{Name: "init", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}}, "n1")
	sidecarStarting.Spec.InitContainers = []corev1.Container{{Name: "db-proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Ports:        []corev1.ContainerPort{{Name: "health", ContainerPort: 9090}},
		StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/startup", Port: intstr.FromString("health")}}}}, {Name: "init"}}
	deleting := pod(waiting("ImagePullBackOff", ""), "n1")
	deleting.DeletionTimestamp = &metav1.Time{}
	tests := []struct {
		name      string
		pod       *corev1.Pod
		want      string // "" = no problem
		container string
		// down: the zz component whose outage it waits for.
		down string
	}{
		{name: "unschedulable", pod: pod(corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: "Unschedulable", Message: "0/8 nodes are available: 8 Insufficient cpu."}}}, ""),
			want: "Unschedulable: 0/8 nodes are available: 8 Insufficient cpu."},
		{name: "unschedulable, preempted for", pod: preempted(), want: "Unschedulable: 0/8 nodes are available: 8 node(s) refused by the extender." +
			"; zz evicted lower-priority pods on node gpu-3 for it and keeps their GPU memory for it: it runs once they are gone"},
		{name: "image pull", pod: pod(waiting("ImagePullBackOff", `Back-off pulling image "reg/x:9"`), "n1"),
			want: `ImagePullBackOff: Back-off pulling image "reg/x:9"`, container: "app"},
		{name: "err image pull", pod: pod(waiting("ErrImagePull", "not found"), "n1"), want: "ErrImagePull: not found", container: "app"},
		{name: "crash loop", pod: pod(crash, "n1"), want: "CrashLoopBackOff: container app exited with code 1 (Error), restarted 4 times", container: "app"},
		{name: "crash loop, its termination message's reason", pod: pod(crashMsg, "n1"),
			want: `CrashLoopBackOff: container app exited with code 2 (Error), restarted 2 times: config: key "db" missing`, container: "app"},
		{name: "init container crash loop", pod: pod(initCrash, "n1"),
			want: "CrashLoopBackOff: init container migrate exited with code 1 (Error), restarted 3 times", container: "migrate"},
		{name: "sidecar crash loop beside a running app", pod: sidecarCrash,
			want: "CrashLoopBackOff: sidecar db-proxy exited with code 1 (Error), restarted 5 times: missing --credentials-file", container: "db-proxy"},
		{name: "init container image pull", pod: pod(initPull, "n1"),
			want: `ImagePullBackOff: init container fetch: Back-off pulling image "reg/fetch:1"`, container: "fetch"},
		{name: "readiness failing", pod: pod(corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, "n1"),
			want: "NotReady: container app runs but its readiness probe fails"},
		{name: "pod marked not ready by the node controller", pod: pod(corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, "n1"),
			want: "NotReady: containers are ready but the pod is not; check node n1 (kubectl get node n1)"},
		{name: "front sidecar running, not ready", pod: sidecarUnready(false, true),
			want: "NotReady: sidecar auth runs but is not ready: TCP connect to port auth (4180) fails"},
		{name: "sidecar running, not ready, no probe in the spec", pod: sidecarUnready(false, false),
			want: "NotReady: sidecar auth runs but is not ready: its readiness probe fails"},
		{name: "sidecar's startup not passed: initCommand and the app wait", pod: sidecarStarting,
			want: "NotReady: sidecar db-proxy runs but has not started: HTTP GET /startup on port health (9090) fails; initCommand and the app wait for it"},
		{name: "sidecar and app ready, pod not: the node", pod: sidecarUnready(true, true),
			want: "NotReady: containers are ready but the pod is not; check node n1 (kubectl get node n1)"},
		{name: "not scheduled yet", pod: pod(corev1.PodStatus{Phase: corev1.PodPending}, ""), want: "Pending: not scheduled yet"},
		{name: "no scheduler has tried it", pod: untried("", 2*time.Minute),
			want: `Pending: not scheduled yet: no scheduler has tried it in over 30s; is scheduler "default-scheduler" running?`},
		{name: "zz-scheduler has not tried it", down: contract.SchedulerName, pod: untried(contract.SchedulerName, 95*time.Second),
			want: `Pending: not scheduled yet: no scheduler has tried it in over 30s; is scheduler "zz-scheduler" running? (kubectl zz check)`},
		{name: "zz-scheduler has not tried it, a ReplicaSet's pod", down: contract.SchedulerName, pod: ownedPod(untried(contract.SchedulerName, time.Minute)),
			want: `Pending: not scheduled yet: no scheduler has tried it in over 30s; is scheduler "zz-scheduler" running? (kubectl zz check)` +
				"; while it is down the zz webhook sends new pods to the default scheduler, so deleting this pod has it replaced there"},
		{name: "zz-scheduler has not tried it, a GPU pod", down: contract.SchedulerName, pod: func() *corev1.Pod {
			p := ownedPod(untried(contract.SchedulerName, time.Minute))
			p.Spec.Containers = []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
				contract.ResourceGPUMem: resource.MustParse("4Gi"), contract.ResourceGPU: resource.MustParse("1")}}}}
			return p
		}(), want: `Pending: not scheduled yet: no scheduler has tried it in over 30s; is scheduler "zz-scheduler" running? (kubectl zz check)` +
			"; a GPU pod waits for it (only zz-scheduler gives cards)"},
		{name: "the extender does not answer", down: contract.ComponentExtender, pod: pod(corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonSchedulerError, Message: `Post "http://127.0.0.1:8890/gpu/filter": dial tcp 127.0.0.1:8890: connect: connection refused`}}}, ""),
			want: `SchedulerError: Post "http://127.0.0.1:8890/gpu/filter": dial tcp 127.0.0.1:8890: connect: connection refused` +
				"; the zz scheduler extender did not answer zz-scheduler: is the zz-extender container of the zz-scheduler pods running? (kubectl zz check; kubectl -n zz-system logs deployment/zz-scheduler -c zz-extender)"},
		{name: "not tried yet, just created", pod: untried(contract.SchedulerName, 5*time.Second), want: "Pending: not scheduled yet"},
		{name: "creating", pod: pod(corev1.PodStatus{Phase: corev1.PodPending}, "n1"), want: "Pending: phase Pending on node n1"},
		{name: "ready", pod: pod(corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}, "n1")},
		{name: "terminating", pod: deleting},
		{name: "evicted: a scratch directory outgrew its size", pod: func() *corev1.Pod {
			p := pod(corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: `Usage of EmptyDir volume "scratch-1" exceeds the limit "1Gi". `}, "n1")
			p.Spec.Containers = []corev1.Container{{Name: "app", VolumeMounts: []corev1.VolumeMount{{Name: "scratch-0", MountPath: "/tmp"}, {Name: "scratch-1", MountPath: "/var/cache/nginx"}}}}
			return p
		}(), want: `Evicted: Usage of EmptyDir volume "scratch-1" exceeds the limit "1Gi"; it is the spec.scratch directory at /var/cache/nginx: raise its size, or have the app remove what it no longer needs there`},
		{name: "evicted: the node ran short", pod: pod(corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: ephemeral-storage. "}, "n1"),
			want: "Evicted: The node was low on resource: ephemeral-storage"},
		{name: "waiting ContainerCreating is no problem yet", pod: pod(waiting("ContainerCreating", ""), "n1"), want: "Pending: phase Pending on node n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := PodProblem(tt.pod)
			if got := map[bool]string{true: p.String()}[ok]; got != tt.want {
				t.Fatalf("problem = %q, want %q", got, tt.want)
			}
			if p.Container != tt.container {
				t.Errorf("container = %q, want %q", p.Container, tt.container)
			}
			if p.Down != tt.down {
				t.Errorf("down = %q, want %q", p.Down, tt.down)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	got := Summary([]Problem{
		{Pod: "a", Reason: "Unschedulable", Detail: "no nodes"},
		{Pod: "b", Reason: "ImagePullBackOff"},
		{Pod: "c", Reason: "Unschedulable", Detail: "no nodes"},
	})
	want := "2 pods (e.g. a): Unschedulable: no nodes; pod b: ImagePullBackOff"
	if got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
	if Summary(nil) != "" {
		t.Fatal("summary of nothing is not empty")
	}
}

func TestRolloutStatus(t *testing.T) {
	d := func(gen, observed int64, want, total, updated, avail int32) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(want)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: total, UpdatedReplicas: updated, AvailableReplicas: avail, ReadyReplicas: avail}}
	}
	tests := []struct {
		name string
		d    *appsv1.Deployment
		want bool
	}{
		{"complete", d(2, 2, 3, 3, 3, 3), true},
		{"not observed", d(3, 2, 3, 3, 3, 3), false},
		{"old pod left", d(2, 2, 3, 4, 3, 3), false},
		{"not updated", d(2, 2, 3, 3, 2, 3), false},
		{"not available", d(2, 2, 3, 3, 3, 2), false},
		{"scaled to zero", d(1, 1, 0, 0, 0, 0), true},
	}
	for _, tt := range tests {
		if got := RolloutStatus(tt.d).Complete; got != tt.want {
			t.Errorf("%s: complete = %v", tt.name, got)
		}
	}
	// After a scale down from 4 to 3, as kubectl rollout status says it.
	if got, want := RolloutStatus(d(2, 2, 3, 4, 4, 4)).String(), "4/3 ready, 4/3 updated, 4 total, 1 pending termination"; got != want {
		t.Errorf("scaled-down status = %q, want %q", got, want)
	}
	// Before the controller sees a new spec the counts are the last
	// rollout's: they must not read as this one's progress.
	if got, want := RolloutStatus(d(3, 2, 3, 3, 3, 3)).String(), "3/3 ready, 3 total, new spec not yet seen by the Deployment controller"; got != want {
		t.Errorf("unobserved status = %q, want %q", got, want)
	}
	dead := d(2, 2, 3, 3, 1, 3)
	dead.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet has timed out progressing."}}
	dead.Status.Conditions = append(dead.Status.Conditions, appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue,
		Reason: "FailedCreate", Message: `pods "shop-1" is forbidden: exceeded quota: q`})
	if st := RolloutStatus(dead); st.ReplicaFailure != `FailedCreate: pods "shop-1" is forbidden: exceeded quota: q` {
		t.Fatalf("replica failure = %q", st.ReplicaFailure)
	}
	if st := RolloutStatus(dead); st.Failed == "" || st.String() != "3/3 ready, 1/3 updated, 3 total" {
		t.Fatalf("status = %+v (%s)", st, st)
	}
	// A redeploy onto a Deployment still showing the last rollout's missed
	// deadline: the controller has not seen the new spec yet, so the old
	// condition says nothing about it (kubectl's rule).
	redeployed := dead.DeepCopy()
	redeployed.Generation = 3
	if st := RolloutStatus(redeployed); st.Failed != "" {
		t.Fatalf("an unobserved generation failed on an old condition: %+v", st)
	}
}

func TestFailureShowsCrashLogs(t *testing.T) {
	crash := waiting("CrashLoopBackOff", "")
	c := fake.NewClientset(pod(crash, "n1"))
	err := failure(t.Context(), c, ns, "shop", "not ready after 1s", "", nil)
	if !errors.Is(err, ErrRolloutFailed) {
		t.Fatalf("err = %v", err)
	}
	// The fake clientset answers every log request with "fake logs".
	if !strings.Contains(err.Error(), "pod p: CrashLoopBackOff") || !strings.Contains(err.Error(), "last log lines of p:\n  fake logs") {
		t.Fatalf("error lacks reason or logs:\n%v", err)
	}

	// An init container that crash-loops: its log is the one read.
	initCrash := corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{{Name: "migrate",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonCrashLoop}}}}}
	c = fake.NewClientset(pod(initCrash, "n1"))
	err = failure(t.Context(), c, ns, "shop", "not ready after 1s", "", nil)
	if !strings.Contains(err.Error(), "last log lines of p container migrate:\n  fake logs") {
		t.Fatalf("error lacks the init container's logs:\n%v", err)
	}
	var asked []string
	for _, a := range c.Actions() {
		if a.GetSubresource() == "log" {
			asked = append(asked, a.(k8stesting.GenericAction).GetValue().(*corev1.PodLogOptions).Container)
		}
	}
	if len(asked) == 0 || asked[0] != "migrate" {
		t.Errorf("log requests for containers %q, want migrate's", asked)
	}
}

// TestLogTail: a crashed run that logged nothing is said so, not shown as a
// blank block under "last log lines of ...:" (an incident audit).
func TestLogTail(t *testing.T) {
	for _, tc := range []struct {
		log      string
		previous bool
		want     string
	}{
		{"panic: boom\ngoroutine 1\n", true, "  panic: boom\n  goroutine 1"},
		{"one line", false, "  one line"},
		{"", true, "  (its last run logged nothing)"},
		{"\n", true, "  (its last run logged nothing)"},
		{" \n\n", true, "  (its last run logged nothing)"},
		{"", false, "  (its current run has logged nothing yet)"},
	} {
		if got := logTail(tc.log, tc.previous); got != tc.want {
			t.Errorf("logTail(%q, %v) = %q, want %q", tc.log, tc.previous, got, tc.want)
		}
	}
}

func TestProgressLive(t *testing.T) {
	var b strings.Builder
	p := &progress{out: &b, live: true}
	p.update("a", "", "1")
	p.update("b", "", "1")
	p.done()
	if b.String() != "\r\033[Ka\r\033[Kb\n" {
		t.Fatalf("live output = %q", b.String())
	}
	// A note stays under the last live line, ended by done.
	b.Reset()
	p.update("a", "", "1")
	p.note("Warning: w")
	p.done()
	if b.String() != "\r\033[Ka\nWarning: w\n" {
		t.Fatalf("live output with a note = %q", b.String())
	}
	b.Reset()
	p = &progress{out: &b, live: true, width: 6}
	p.update("abcdefgh", "", "1")
	if b.String() != "\r\033[Kabcd…" {
		t.Fatalf("cut live output = %q", b.String())
	}
	// A reason that does not fit goes on a line of its own, once a change,
	// so cutting the live line never hides it.
	b.Reset()
	p = &progress{out: &b, live: true, width: 20}
	p.update("shop: 1/2, 1s", "pod x: Unschedulable: 0/8 nodes", "s")
	p.update("shop: 1/2, 2s", "pod x: Unschedulable: 0/8 nodes", "s")
	p.update("shop: 1/2, 3s", "short", "s")
	if want := "\r\033[Kwaiting: pod x: Unschedulable: 0/8 nodes\n\r\033[Kshop: 1/2, 1s\r\033[Kshop: 1/2, 2s\r\033[Kwaiting: short\n\r\033[Kshop: 1/2, 3s"; b.String() != want {
		t.Fatalf("live output with a long reason = %q, want %q", b.String(), want)
	}
	// A pod's message (the namespace's to write) cannot drive the terminal.
	b.Reset()
	p = &progress{out: &b}
	p.update("shop: 1/2", "pod x: CrashLoopBackOff: \x1b[2J\rall healthy", "e")
	if want := "shop: 1/2; waiting: pod x: CrashLoopBackOff: ^[[2J\\rall healthy\n"; b.String() != want {
		t.Fatalf("escaped output = %q, want %q", b.String(), want)
	}
	b.Reset()
	p = &progress{out: &b}
	p.update("a 1s", "", "x")
	p.update("a 2s", "", "x")
	p.update("b 3s", "w", "y")
	if b.String() != "a 1s\nb 3s; waiting: w\n" {
		t.Fatalf("plain output = %q", b.String())
	}
}

// TestExplainStarting: a pod on a node whose containers never start says
// why through its latest Warning event (kubectl describe's), in status and
// in deploy's failure; other pods' events and Normal ones do not count.
func TestExplainStarting(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	stuck := pod(waiting("ContainerCreating", ""), "n1")
	ev := func(name, obj, typ, reason, msg string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: obj, Namespace: ns},
			Type: typ, Reason: reason, Message: msg, LastTimestamp: metav1.NewTime(at)}
	}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns, Labels: map[string]string{
		contract.LabelApp: "shop", contract.LabelK8sManagedBy: contract.ManagedBy}}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)}}
	c := fake.NewClientset(stuck, dep,
		ev("e1", "p", corev1.EventTypeNormal, "Scheduled", "Successfully assigned", t0),
		ev("e2", "p", corev1.EventTypeWarning, "FailedMount", `MountVolume.SetUp failed for volume "old"`, t0.Add(time.Second)),
		ev("e3", "p", corev1.EventTypeWarning, "FailedMount", `MountVolume.SetUp failed for volume "db" : secret "db" not found`, t0.Add(time.Minute)),
		ev("e4", "other", corev1.EventTypeWarning, "FailedCreatePodSandBox", "not this pod", t0.Add(time.Hour)))
	problems := []Problem{{Pod: "p", Reason: "Pending", Detail: "phase Pending on node n1", Starting: true}, {Pod: "q", Reason: "Pending", Detail: "not scheduled yet"}}
	ExplainStarting(t.Context(), c, ns, problems)
	if got := problems[0].String(); got != `FailedMount: MountVolume.SetUp failed for volume "db" : secret "db" not found` {
		t.Errorf("explained = %q", got)
	}
	if problems[1].Reason != "Pending" {
		t.Errorf("a pod not on a node was changed: %+v", problems[1])
	}
	if p, _ := PodProblem(stuck); !p.Starting {
		t.Errorf("a pod on a node, ContainerCreating, is not Starting: %+v", p)
	}
	err := failure(t.Context(), c, ns, "shop", "not ready after 1s", "", nil)
	if err == nil || !strings.Contains(err.Error(), `pod p: FailedMount: MountVolume.SetUp failed for volume "db" : secret "db" not found`) {
		t.Errorf("deploy's failure: %v", err)
	}
	st, err := AppStatusOf(t.Context(), c, ns, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Issues) != 1 || st.Issues[0].Reason != "FailedMount" {
		t.Errorf("status issues %+v", st.Issues)
	}
}

// TestSurgeHint: a rollout whose extra pod waits for GPU memory while the
// old pods run says so, and how to roll without it; with no surge, or no
// old pod left, it does not.
func TestSurgeHint(t *testing.T) {
	waiting := pod(corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: "Unschedulable", Message: "0/8 nodes are available: 1 largest free card 12288 MiB < 20480 MiB asked."}}}, "")
	waiting.Labels[contract.LabelTrack] = contract.TrackStable
	waiting.Spec.Containers = []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
		contract.ResourceGPUMem: resource.MustParse("20Gi"), contract.ResourceGPU: resource.MustParse("1")}}}}
	for _, tt := range []struct {
		name         string
		surge, down  intstr.IntOrString
		replicas, up int32
		want         bool
	}{
		{"surge beside the old pod", intstr.FromString("25%"), intstr.FromInt32(0), 2, 1, true},
		{"replace", intstr.FromInt32(0), intstr.FromInt32(1), 1, 0, false},
		{"no old pod", intstr.FromString("25%"), intstr.FromInt32(0), 1, 1, false},
		// A hand-edited Deployment that may take an old pod down first:
		// its memory frees without a person's step.
		{"an old pod may go first", intstr.FromString("25%"), intstr.FromInt32(1), 2, 1, false},
	} {
		dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &tt.surge, MaxUnavailable: &tt.down}}},
			Status: appsv1.DeploymentStatus{Replicas: tt.replicas, UpdatedReplicas: tt.up}}
		err := failure(t.Context(), fake.NewClientset(waiting.DeepCopy(), dep), ns, "shop", "not ready after 1s", "", nil)
		if got := strings.Contains(err.Error(), "the pod that waits for GPU memory is the rollout's extra one (surge)"); got != tt.want {
			t.Errorf("%s: %v", tt.name, err)
		}
		// Without the surge's words, how many fit is where gpu --fit says
		// (a scale past the cards' room: a GPU user's audit).
		// By its size, not pod/NAME: the restore deletes the pods that
		// waited (a review).
		fit := "kubectl zz gpu --fit 20Gi -n " + ns + " says where a pod of this size fits now and how many more the nodes could take (MORE)"
		if got := strings.Contains(err.Error(), fit); got == tt.want {
			t.Errorf("%s: the --fit line said %v: %v", tt.name, got, err)
		}
	}
	// Cards too small ever: the old pods' memory would not do either.
	never := waiting.DeepCopy()
	never.Status.Conditions[0].Message = "0/8 nodes are available: 1 node's largest card has 16384 MiB < 20480 MiB asked: never fits here, even empty."
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromString("25%"))}}},
		Status: appsv1.DeploymentStatus{Replicas: 2, UpdatedReplicas: 1}}
	if err := failure(t.Context(), fake.NewClientset(never, dep), ns, "shop", "not ready after 1s", "", nil); strings.Contains(err.Error(), "surge") {
		t.Errorf("a pod that never fits: %v", err)
	}
}

// TestExplainUnboundClaim: a pod the scheduler holds for its unbound claim
// says the claim's phase and Warning event, and the spec field, where the
// scheduler said only "unbound immediate PersistentVolumeClaims" (an
// app-developer audit).
func TestExplainUnboundClaim(t *testing.T) {
	p := pod(corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: "Unschedulable", Message: "0/8 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found"}}}, "")
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "files-data"}}}}
	pr, ok := PodProblem(p)
	if !ok || len(pr.Claims) != 1 || pr.Claims[0] != "files-data" {
		t.Fatalf("PodProblem = %+v, %v", pr, ok)
	}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "files-data", Namespace: ns}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: ns}, InvolvedObject: corev1.ObjectReference{Kind: "PersistentVolumeClaim", Name: "files-data", Namespace: ns},
		Type: corev1.EventTypeWarning, Reason: "FailedBinding", Message: "no persistent volumes available for this claim and no storage class is set"}
	problems := []Problem{pr}
	ExplainStarting(t.Context(), fake.NewClientset(p, claim, ev), ns, problems)
	want := "; claim files-data is Pending: FailedBinding: no persistent volumes available for this claim and no storage class is set (it names no storage class, and the cluster had no default one when it was made: set spec.pvc.storageClass"
	if got := problems[0].Detail; !strings.Contains(got, want) {
		t.Errorf("explained = %q\nwant it to hold %q", got, want)
	}
}

// TestExplainUnhealthy: a running container failing its readiness probe
// is said with the probe and the kubelet's Unhealthy event, and a 404 with
// the spec field that fixes it (an app-developer audit: "its readiness
// probe fails" alone).
func TestExplainUnhealthy(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	p := pod(corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, "n1")
	p.Spec.Containers = []corev1.Container{{Name: "app", ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromString("http")}}}}}
	pr, ok := PodProblem(p)
	if !ok || pr.String() != "NotReady: container app runs but its readiness probe (HTTP GET /health on port http) fails" || pr.Unhealthy != "app" {
		t.Fatalf("PodProblem = %+v, %v", pr, ok)
	}
	unhealthy := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: ns}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns},
		Type: corev1.EventTypeWarning, Reason: "Unhealthy", Message: "Readiness probe failed: HTTP probe failed with statuscode: 404", LastTimestamp: metav1.NewTime(t0)}
	problems := []Problem{pr}
	ExplainStarting(t.Context(), fake.NewClientset(p, unhealthy), ns, problems)
	want := "NotReady: container app runs but its readiness probe (HTTP GET /health on port http) fails: Readiness probe failed: HTTP probe failed with statuscode: 404; the app answers 404 there: set spec.healthPath to a path it serves (or deploy --debug to look inside)"
	if got := problems[0].String(); got != want {
		t.Errorf("explained = %q\nwant %q", got, want)
	}
	problems = []Problem{pr}
	ExplainStarting(t.Context(), fake.NewClientset(p), ns, problems)
	if got := problems[0].String(); got != pr.String() {
		t.Errorf("with no event: %q", got)
	}
	// A liveness probe's event, or another container's, says nothing of
	// this readiness probe; a refused connection loses the pod's IP.
	ev := func(name, msg, fieldPath string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns, FieldPath: fieldPath},
			Type:           corev1.EventTypeWarning, Reason: "Unhealthy", Message: msg, LastTimestamp: metav1.NewTime(at)}
	}
	problems = []Problem{pr}
	ExplainStarting(t.Context(), fake.NewClientset(p,
		ev("e1", `Readiness probe failed: Get "http://10.1.2.3:8080/health": dial tcp 10.1.2.3:8080: connect: connection refused`, "spec.containers{app}", t0),
		ev("e2", "Liveness probe failed: HTTP probe failed with statuscode: 500", "spec.containers{app}", t0.Add(time.Minute)),
		ev("e3", "Readiness probe failed: timeout", "spec.containers{log-agent}", t0.Add(time.Hour))), ns, problems)
	want = `NotReady: container app runs but its readiness probe (HTTP GET /health on port http) fails: Readiness probe failed: Get "http://<pod IP>:8080/health": dial tcp <pod IP>:8080: connect: connection refused`
	if got := problems[0].String(); got != want {
		t.Errorf("explained = %q\nwant %q", got, want)
	}
	// A native sidecar's event names it among the init containers.
	sc := pod(corev1.PodStatus{Phase: corev1.PodRunning,
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "auth", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
		ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, "n1")
	sc.Spec.InitContainers = []corev1.Container{{Name: "auth", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Ports: []corev1.ContainerPort{{Name: "auth", ContainerPort: 4180}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("auth")}}}}}
	pr, _ = PodProblem(sc)
	problems = []Problem{pr}
	ExplainStarting(t.Context(), fake.NewClientset(sc,
		ev("e1", "Readiness probe failed: dial tcp 10.1.2.3:4180: connect: connection refused", "spec.initContainers{auth}", t0)), ns, problems)
	want = "NotReady: sidecar auth runs but is not ready: TCP connect to port auth (4180) fails: Readiness probe failed: dial tcp <pod IP>:4180: connect: connection refused"
	if got := problems[0].String(); got != want {
		t.Errorf("sidecar explained = %q\nwant %q", got, want)
	}
	// A sidecar's startup that has not passed: its Startup probe event.
	sc.Status.InitContainerStatuses[0].Started = ptr.To(false)
	sc.Spec.InitContainers[0].StartupProbe = sc.Spec.InitContainers[0].ReadinessProbe
	pr, _ = PodProblem(sc)
	problems = []Problem{pr}
	ExplainStarting(t.Context(), fake.NewClientset(sc,
		ev("e1", "Readiness probe failed: timeout", "spec.initContainers{auth}", t0.Add(time.Minute)),
		ev("e2", "Startup probe failed: dial tcp 10.1.2.3:4180: connect: connection refused", "spec.initContainers{auth}", t0)), ns, problems)
	want = "NotReady: sidecar auth runs but has not started: TCP connect to port auth (4180) fails; initCommand and the app wait for it: Startup probe failed: dial tcp <pod IP>:4180: connect: connection refused"
	if got := problems[0].String(); got != want {
		t.Errorf("sidecar startup explained = %q\nwant %q", got, want)
	}
}

// TestExplainHealthCommand: a worker failing spec.healthCommand is said as
// a failing HTTP probe is: the command (each argument with a blank
// quoted) and the kubelet's event, "errored" ones too (an exec the runtime
// refused), with the fix where the image lacks the program; before its
// startup probe passes, the startup probe and its events.
func TestExplainHealthCommand(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	check := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "test -n \"$(find /tmp/beat -mmin -1)\""}}}}
	p := pod(corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", Started: ptr.To(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}, "n1")
	p.Spec.Containers = []corev1.Container{{Name: "app", ReadinessProbe: check, LivenessProbe: check}}
	ev := func(name, msg string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: ns, FieldPath: "spec.containers{app}"},
			Type:           corev1.EventTypeWarning, Reason: "Unhealthy", Message: msg, LastTimestamp: metav1.NewTime(at)}
	}
	const probe = `container app runs but its readiness probe (exec sh -c "test -n \"$(find /tmp/beat -mmin -1)\"") fails`
	for _, tt := range []struct {
		name    string
		started bool
		events  []*corev1.Event
		want    string
	}{
		{name: "no event", started: true, want: "NotReady: " + probe},
		{name: "its exit", started: true, events: []*corev1.Event{ev("e1", "Readiness probe failed: no heartbeat for 95s\n", t0),
			ev("e2", "Liveness probe failed: no heartbeat for 99s", t0.Add(time.Second))},
			want: "NotReady: " + probe + ": Readiness probe failed: no heartbeat for 95s"},
		{name: "no such program", started: true, events: []*corev1.Event{ev("e1", `Readiness probe errored and resulted in unknown state: rpc error: code = Unknown desc = failed to exec in container: exec: "sh": executable file not found in $PATH`, t0)},
			want: "NotReady: " + probe + `: Readiness probe errored and resulted in unknown state: rpc error: code = Unknown desc = failed to exec in container: exec: "sh": executable file not found in $PATH; the image has no such program: spec.healthCommand must name one it has, by its path or on its PATH (or deploy --debug to look inside)`},
		{name: "not started", events: []*corev1.Event{ev("e1", "Startup probe failed: no heartbeat yet", t0), ev("e2", "Readiness probe failed: old", t0.Add(-time.Hour))},
			want: `NotReady: container app runs but has not started: its startup probe (exec sh -c "test -n \"$(find /tmp/beat -mmin -1)\"") fails: Startup probe failed: no heartbeat yet`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := p.DeepCopy()
			if !tt.started {
				p.Spec.Containers[0].StartupProbe = check
				p.Status.ContainerStatuses[0].Started = ptr.To(false)
			}
			pr, ok := PodProblem(p)
			if !ok {
				t.Fatal("no problem")
			}
			objs := []runtime.Object{p}
			for _, e := range tt.events {
				objs = append(objs, e)
			}
			problems := []Problem{pr}
			ExplainStarting(t.Context(), fake.NewClientset(objs...), ns, problems)
			if got := problems[0].String(); got != tt.want {
				t.Errorf("explained = %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestExplainGPUKill: a GPU pod crash-looping after a SIGKILL says, from
// its event, that the zz device plugin killed it for its GPU memory; a
// kernel OOM kill, a pod without a GPU request, or no such event change
// nothing.
func TestExplainGPUKill(t *testing.T) {
	killed := func(name, reason string, gpu bool) *corev1.Pod {
		st := waiting(ReasonCrashLoop, "back-off 20s")
		st.ContainerStatuses[0].RestartCount = 2
		st.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 137, Reason: reason}
		p := pod(st, "gpu-1")
		p.Name = name
		p.Spec.Containers = []corev1.Container{{Name: "app"}}
		if gpu {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("8Gi")}
		}
		return p
	}
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	ev := func(name, obj, reason, msg string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: obj, Namespace: ns},
			Type: corev1.EventTypeWarning, Reason: reason, Message: msg, LastTimestamp: metav1.NewTime(at)}
	}
	const kill = "killed process 4242, which used 9000 MiB of GPU memory on card 2 (GPU-2): the pod's processes used 9000 MiB there for 30s or more, more than the 8192 MiB it requested"
	pods := []*corev1.Pod{killed("gpu", "Error", true), killed("oom", "OOMKilled", true), killed("cpu", "Error", false), killed("quiet", "Error", true)}
	c := fake.NewClientset(
		ev("e1", "gpu", contract.ReasonGPUMemoryOverRequestKilled, kill, t0),
		ev("e2", "gpu", "BackOff", "Back-off restarting failed container", t0.Add(time.Minute)),
		ev("e3", "oom", contract.ReasonGPUMemoryOverRequestKilled, kill, t0),
		ev("e4", "cpu", contract.ReasonGPUMemoryOverRequestKilled, kill, t0))
	var problems []Problem
	for _, p := range pods {
		pr, ok := PodProblem(p)
		if !ok {
			t.Fatalf("%s: no problem", p.Name)
		}
		if pr.GPUKilled != (p.Name == "gpu" || p.Name == "quiet") {
			t.Fatalf("%s: GPUKilled %t", p.Name, pr.GPUKilled)
		}
		problems = append(problems, pr)
	}
	ExplainStarting(t.Context(), c, ns, problems)
	want := []string{
		"CrashLoopBackOff: container app exited with code 137 (Error), restarted 2 times; the zz device plugin " + kill,
		"CrashLoopBackOff: container app exited with code 137 (OOMKilled), restarted 2 times",
		"CrashLoopBackOff: container app exited with code 137 (Error), restarted 2 times",
		"CrashLoopBackOff: container app exited with code 137 (Error), restarted 2 times",
	}
	for i, p := range problems {
		if p.String() != want[i] {
			t.Errorf("%s:\n got %q\nwant %q", p.Pod, p.String(), want[i])
		}
	}
}

// TestWebhookDown: a ReplicaFailure from the zz webhook not answering says
// so; any other (a quota, another webhook) adds nothing.
func TestWebhookDown(t *testing.T) {
	down := `FailedCreate: Internal error occurred: failed calling webhook "pods.zz.io": failed to call webhook: Post "https://zz-webhook.zz-system.svc:443/mutate-pods?timeout=5s": dial tcp 10.96.0.12:443: connect: connection refused`
	if got := WebhookDown(down); !strings.Contains(got, "the zz webhook does not answer, so no pod of this namespace can be created until it does (kubectl zz check") {
		t.Errorf("webhook down: %q", got)
	}
	for _, other := range []string{`FailedCreate: pods "x" is forbidden: exceeded quota: q`,
		`FailedCreate: Internal error occurred: failed calling webhook "istio.io": failed to call webhook: Post "https://istiod:443/inject"`} {
		if got := WebhookDown(other); got != "" {
			t.Errorf("%q: %q", other, got)
		}
	}
}

// TestGPUAskHint: a GPU pod that waits on a scheduler unable to give it
// cards, or on nvidia.com/ resources no node offers, is told why and what
// to write (a GPU-user audit found both waiting with no word); other pods
// are not.
func TestGPUAskHint(t *testing.T) {
	unschedulable := func(msg string, limits corev1.ResourceList, scheduler string) *corev1.Pod {
		p := pod(corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: "Unschedulable", Message: msg}}}, "")
		p.Spec.SchedulerName = scheduler
		p.Spec.Containers = []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: limits}}}
		return p
	}
	gpu := corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("4Gi"), contract.ResourceGPUMemTotal: resource.MustParse("4Gi")}
	nvidia := corev1.ResourceList{"nvidia.com/gpumem": resource.MustParse("4000"), "nvidia.com/gpu": resource.MustParse("1")}
	withCards := corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("4Gi"), contract.ResourceGPUMemTotal: resource.MustParse("4Gi"), contract.ResourceGPU: resource.MustParse("1")}
	both := corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse("4Gi"), contract.ResourceGPUMemTotal: resource.MustParse("4Gi"),
		contract.ResourceGPU: resource.MustParse("1"), "nvidia.com/gpu": resource.MustParse("1")}
	const insufficientZZ = "0/8 nodes are available: 3 Insufficient zz.io/gpu-mem, 5 node(s) didn't match Pod's node affinity/selector."
	const insufficientNV = "0/8 nodes are available: 3 Insufficient nvidia.com/gpu, 5 node(s) didn't match Pod's node affinity/selector."
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"GPU pod on the default scheduler", unschedulable(insufficientZZ, withCards, corev1.DefaultSchedulerName),
			`; it asks for zz.io/gpu-mem, which only zz-scheduler places, but names scheduler "default-scheduler": label namespace team-a zz.io/injection=enabled (the zz webhook routes such pods), or set schedulerName: zz-scheduler`},
		// Without zz.io/gpu, zz-scheduler alone refuses it on every node
		// (the webhook adds it where it serves): the fix says both.
		{"GPU pod on the default scheduler without zz.io/gpu", unschedulable(insufficientZZ, gpu, corev1.DefaultSchedulerName),
			`; it asks for zz.io/gpu-mem, which only zz-scheduler places, but names scheduler "default-scheduler": label namespace team-a zz.io/injection=enabled (the zz webhook routes such pods), or set schedulerName: zz-scheduler and add zz.io/gpu: 1 beside zz.io/gpu-mem`},
		// A manifest of NVIDIA's device plugin given zz's memory too: it
		// waited for good with no word (a GPU audit).
		{"nvidia.com/gpu beside zz.io/gpu-mem", unschedulable(insufficientNV, both, contract.SchedulerName),
			`; it asks for nvidia.com/gpu beside zz.io/gpu-mem: zz chooses the pod's cards by zz.io/gpu-mem and zz.io/gpu alone, and nvidia.com/gpu is NVIDIA's device plugin's: where no node offers it the pod waits for good, and where one does it gets cards zz does not account: remove nvidia.com/gpu`},
		{"nvidia.com/gpu beside zz.io/gpu-mem, waiting for memory", unschedulable("0/8 nodes are available: 8 largest free card 2048 MiB < 4096 MiB asked.", both, contract.SchedulerName), ""},
		{"GPU pod on zz-scheduler", unschedulable("0/8 nodes are available: 8 largest free card 2048 MiB < 4096 MiB asked.", gpu, contract.SchedulerName), ""},
		{"nvidia.com/gpu no node offers", unschedulable(insufficientNV, nvidia, contract.SchedulerName),
			`; it asks for nvidia.com/gpu, which no node offers here: zz shares GPUs as zz.io/gpu-mem (GPU memory on each card) and zz.io/gpu (cards), so ask for those (nvidia.com/gpu: 1 becomes zz.io/gpu-mem: the card's memory, with annotation zz.io/gpu-whole: "true" for a card of its own)`},
		{"nvidia.com/gpu waiting for something else", unschedulable("0/8 nodes are available: 8 Insufficient cpu.", nvidia, contract.SchedulerName), ""},
		{"no GPU", unschedulable(insufficientZZ, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}, corev1.DefaultSchedulerName), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := PodProblem(tt.pod)
			if !ok || !strings.HasSuffix(p.Detail, tt.want) || tt.want == "" && strings.Contains(p.Detail, "; it asks for") {
				t.Fatalf("detail %q, want it to end with %q", p.Detail, tt.want)
			}
		})
	}
}

// TestExplainPreempted: a pod the scheduler cannot place says how many of
// its ReplicaSet's pods were preempted and the latest event's words (a GPU
// user's audit: a preempted app's status said only that the largest free
// card was too small); another ReplicaSet's pods, even one whose name
// starts with this one's, and other reasons are not counted.
func TestExplainPreempted(t *testing.T) {
	now := time.Now()
	ev := func(name, obj, reason, msg string, ago time.Duration) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: obj, Namespace: ns},
			Type: corev1.EventTypeNormal, Reason: reason, Message: msg, LastTimestamp: metav1.NewTime(now.Add(-ago))}
	}
	waits := pod(corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: "Unschedulable", Message: "0/8 nodes are available: 1 largest free card 6144 MiB < 12288 MiB asked."}}}, "")
	waits.Name, waits.GenerateName = "shop-7d9f8-q2x4z", "shop-7d9f8-"
	events := []runtime.Object{waits,
		ev("e1", "shop-7d9f8-aaaaa", "Preempted", "Evicted by zz-extender on node gpu-1 for pod 1234 of priority 1000 (> 100), which needs its GPU memory", 5*time.Minute),
		ev("e2", "shop-7d9f8-bbbbb", "Preempted", "Preempted by pod 5678 on node gpu-2.", 2*time.Minute),
		ev("e3", "shop-7d9f8-x-ccccc", "Preempted", "another ReplicaSet's pod", time.Minute),
		ev("e4", "web-11111-ddddd", "Preempted", "another app's pod", time.Minute),
		ev("e5", "shop-7d9f8-eeeee", "Killing", "Stopping container app", time.Minute)}
	pr, ok := PodProblem(waits)
	if !ok || pr.Replaces != "shop-7d9f8-" {
		t.Fatalf("PodProblem = %+v, %v", pr, ok)
	}
	problems := []Problem{pr}
	ExplainStarting(t.Context(), fake.NewClientset(events...), ns, problems)
	want := "Unschedulable: 0/8 nodes are available: 1 largest free card 6144 MiB < 12288 MiB asked.; 2 pods of its ReplicaSet were preempted by a pod of higher priority (the latest 2m ago: Preempted by pod 5678 on node gpu-2)"
	if got := problems[0].String(); got != want {
		t.Errorf("explained = %q\nwant %q", got, want)
	}
	for _, tt := range []struct {
		name   string
		events []corev1.Event
		want   string
	}{
		{"none", nil, ""},
		{"one", []corev1.Event{*events[1].(*corev1.Event)}, "; a pod of its ReplicaSet was preempted by a pod of higher priority (the latest 5m ago: Evicted by zz-extender on node gpu-1 for pod 1234 of priority 1000 (> 100), which needs its GPU memory)"},
		{"others only", []corev1.Event{*events[3].(*corev1.Event), *events[4].(*corev1.Event), *events[5].(*corev1.Event)}, ""},
	} {
		if got := PreemptedNote(tt.events, "shop-7d9f8-", now); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	// A pod on a node is no replacement waiting for room.
	if pr, _ := PodProblem(pod(waiting("ContainerCreating", ""), "n1")); pr.Replaces != "" {
		t.Errorf("a pod on a node: Replaces %q", pr.Replaces)
	}
}

// TestFitCommand: the --fit command of a waiting GPU pod carries its size
// and every choice the extender reads, in the flags of kubectl zz gpu, so it
// judges the same request once the pod is gone.
func TestFitCommand(t *testing.T) {
	for _, tt := range []struct {
		name  string
		mem   string
		cards string
		ann   map[string]string
		want  string
	}{
		{"one card", "24Gi", "", nil, "kubectl zz gpu --fit 24Gi -n team-a"},
		{"odd size", "3000Mi", "", nil, "kubectl zz gpu --fit 3000Mi -n team-a"},
		{"choices", "40Gi", "2", map[string]string{contract.AnnotationGPUModel: "A100,H100", contract.AnnotationGPUNUMABind: "true", contract.AnnotationGPUPolicy: "spread"},
			"kubectl zz gpu --fit 40Gi --cards 2 --gpu-model A100,H100 --policy spread --numa-bind -n team-a"},
		{"whole cards", "80Gi", "", map[string]string{contract.AnnotationGPUWhole: "true"}, "kubectl zz gpu --fit 80Gi --whole -n team-a"},
	} {
		p := pod(corev1.PodStatus{}, "")
		p.Annotations = tt.ann
		limits := corev1.ResourceList{contract.ResourceGPUMem: resource.MustParse(tt.mem)}
		if tt.cards != "" {
			limits[contract.ResourceGPU] = resource.MustParse(tt.cards)
		}
		p.Spec.Containers = []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: limits}}}
		if got := FitCommand(p); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := FitCommand(pod(corev1.PodStatus{}, "")); got != "kubectl zz gpu --fit pod/p -n team-a" {
		t.Errorf("no GPU request: %q", got)
	}
}
