package deploy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
)

// webhookDownFailure is the Deployment's ReplicaFailure with the zz
// webhook not answering, as the incident audit read it.
const webhookDownFailure = `Internal error occurred: failed calling webhook "pods.zz.io": failed to call webhook: Post "https://127.0.0.1:26892` + contract.WebhookPath + `?timeout=5s": dial tcp 127.0.0.1:26892: connect: connection refused`

// TestOutage: a rollout is a component outage's only when every waiting
// pod waits for a zz component (or only to be scheduled) and one does, or
// the apiserver could not call the zz webhook; a pod of the app's own
// making (a crash loop, no room) makes it the app's to fix.
func TestOutage(t *testing.T) {
	extender := Problem{Pod: "a", Reason: corev1.PodReasonSchedulerError, Detail: "Post ...", Down: contract.ComponentExtender}
	scheduler := Problem{Pod: "b", Reason: "Pending", Detail: "not scheduled yet: no scheduler has tried it", Down: contract.SchedulerName}
	fresh := Problem{Pod: "c", Reason: "Pending", Detail: notScheduledYet}
	crash := Problem{Pod: "d", Reason: ReasonCrashLoop, Detail: "container app exited with code 1"}
	room := Problem{Pod: "e", Reason: "Unschedulable", Detail: "0/8 nodes are available"}
	for _, tt := range []struct {
		name     string
		failure  string
		problems []Problem
		want     string
	}{
		{"webhook down, no pod made", "FailedCreate: " + webhookDownFailure, nil, "zz-webhook"},
		{"extender down", "", []Problem{extender, extender}, "zz-extender"},
		{"zz-scheduler down, a pod just made", "", []Problem{scheduler, fresh}, "zz-scheduler"},
		{"webhook and scheduler", "FailedCreate: " + webhookDownFailure, []Problem{scheduler}, "zz-scheduler and zz-webhook"},
		{"three", "FailedCreate: " + webhookDownFailure, []Problem{scheduler, extender}, "zz-extender, zz-scheduler and zz-webhook"},
		{"a crash loop beside it", "FailedCreate: " + webhookDownFailure, []Problem{crash}, ""},
		{"no room beside the extender", "", []Problem{extender, room}, ""},
		{"pods only not scheduled yet", "", []Problem{fresh}, ""},
		{"another webhook", `FailedCreate: Internal error occurred: failed calling webhook "istio.io": failed to call webhook`, nil, ""},
		{"a quota", `FailedCreate: pods "x" is forbidden: exceeded quota: q`, nil, ""},
		// A lasting refusal beside a pod zz-scheduler has not tried: no
		// outage alone holds it up (a review: "rolls out by itself" was said).
		{"a quota beside zz-scheduler down", `FailedCreate: pods "x" is forbidden: exceeded quota: q`, []Problem{scheduler}, ""},
		{"Pod Security beside the extender down", `FailedCreate: pods "x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false`, []Problem{extender}, ""},
		{"nothing", "", nil, ""},
	} {
		if got := outage(tt.failure, tt.problems); got != tt.want {
			t.Errorf("%s: outage = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestOutageNextStep: the next step after a failed rollout is chosen by its
// cause: a component's outage, through every wrap the commands add (scale's
// "scale to 3 of shop: ", the canary's line), is the same command again
// once it is back, never a fix of the app.
func TestOutageNextStep(t *testing.T) {
	down := fmt.Errorf("%w: team-a/shop not ready after 1m0s: FailedCreate: ...", rolloutFailed("zz-webhook"))
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"outage", down, "run the same command again once zz-webhook is back (kubectl zz check); what was applied rolls out by itself then"},
		{"outage, wrapped", fmt.Errorf("scale to 3 of shop: %w", down), "run the same command again once zz-webhook is back (kubectl zz check); what was applied rolls out by itself then"},
		{"the app's", fmt.Errorf("%w: team-a/shop not ready after 1m0s: pod x: CrashLoopBackOff", rolloutFailed("")), "fix it and deploy again"},
	} {
		if got := fixNext(tt.err); got != tt.want {
			t.Errorf("%s: fixNext = %q, want %q", tt.name, got, tt.want)
		}
		if !errors.Is(tt.err, ErrRolloutFailed) || tt.err.Error() == "" {
			t.Errorf("%s: %v is no ErrRolloutFailed", tt.name, tt.err)
		}
	}
	if got := down.Error(); !strings.HasPrefix(got, "rollout failed: team-a/shop") {
		t.Errorf("an outage's error reads %q; want ErrRolloutFailed's words", got)
	}
}

// TestWebhookDownFinalError: with the zz webhook down, a deploy's final
// error keeps the progress line's diagnosis and says to run the command
// again once it is back (an incident audit read only the apiserver's
// words, then "fix it and deploy again"); the same for a deploy that rolls
// back, a scale (whose restore waits for the webhook too) and a canary.
func TestWebhookDownFinalError(t *testing.T) {
	const diagnosis = "; the zz webhook does not answer, so no pod of this namespace can be created until it does (kubectl zz check"
	fail := func(t *testing.T, err error, wants ...string) {
		t.Helper()
		if !errors.Is(err, ErrRolloutFailed) || downOf(err) != contract.ComponentWebhook {
			t.Fatalf("err = %v, want an OutageError of zz-webhook", err)
		}
		for _, want := range append(wants, webhookDownFailure+diagnosis) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
		if strings.Contains(err.Error(), "fix it") {
			t.Errorf("error says to fix the app:\n%v", err)
		}
	}
	o := opts()
	o.Timeout = 300 * time.Millisecond
	// shop runs revision 1 (reg/shop:1); the webhook is down for the pods
	// of image.
	downFor := func(t *testing.T, image string) *fake.Clientset {
		c := fake.NewClientset()
		ctl := startController(t, c)
		deployOK(t, c, spec(t, "reg/shop:1", ""), 0)
		ctl.setRefused(image, webhookDownFailure)
		return c
	}

	t.Run("deploy", func(t *testing.T) {
		c := downFor(t, "reg/shop:2")
		_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", "")})
		fail(t, err, "what was applied stays, and no revision records it (kubectl zz status shop): run the same command again once zz-webhook is back (kubectl zz check); what was applied rolls out by itself then, or kubectl zz rollback shop to return to revision 1")
	})
	t.Run("deploy --rollback-on-failure", func(t *testing.T) {
		c := downFor(t, "reg/shop:2")
		_, err := Run(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", ""), RollbackOnFailure: true})
		fail(t, err, "\nrolled back to revision 1 (1): run the same command again once zz-webhook is back (kubectl zz check)")
	})
	t.Run("scale", func(t *testing.T) {
		c := downFor(t, "reg/shop:1")
		_, err := Scale(t.Context(), c, &ChangeConfig{Options: o, App: "shop"}, 3)
		fail(t, err, "scale to 3 of shop: rollout failed: ", "\nrevision 1 was re-applied but is not ready either: ", "; it rolls out by itself once zz-webhook is back (kubectl zz check)")
	})
	t.Run("canary", func(t *testing.T) {
		c := downFor(t, "reg/shop:2")
		_, err := RunCanary(t.Context(), c, &Config{Options: o, App: spec(t, "reg/shop:2", "")}, CanaryShare{Count: 1})
		fail(t, err, "\nthe canary is scaled to 0: it serves nothing now and starts nothing by itself, and the stable version serves; run the same command again once zz-webhook is back (kubectl zz check), or kubectl zz abort shop removes it")
	})
}

// TestWebhookDownPastTheDeadline: a rollout the controller gave up on
// (progressDeadlineSeconds) while the webhook was down says so as the
// timeout does: the diagnosis, and an outage's next step.
func TestWebhookDownPastTheDeadline(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns, Generation: 2},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "shop-7c9" has timed out progressing.`},
			{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: webhookDownFailure}}}}
	o := opts()
	err := waitPods(t.Context(), fake.NewClientset(d), ns, "shop", &o, nil, podStart{})
	want := `timed out progressing.: FailedCreate: ` + webhookDownFailure + "; the zz webhook does not answer"
	if downOf(err) != contract.ComponentWebhook || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant an outage of zz-webhook, with %q", err, want)
	}
}
