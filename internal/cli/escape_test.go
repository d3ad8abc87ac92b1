package cli

import (
	"strings"
	"testing"
	"time"
	"unicode"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// hostile clears the screen, retitles the terminal (OSC 0, ended by BEL),
// writes the clipboard (OSC 52) and starts an 8-bit CSI (C1).
const hostile = "\x1b]0;OWNED\a\x1b[2J\x1b]52;c;ZWNobyBo\a\u009b31mFAKE"

// rawControl is the first control character of s but a newline (kubectl
// zz's own line breaks), or -1.
func rawControl(s string) int {
	return strings.IndexFunc(s, func(r rune) bool {
		return r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r))
	})
}

// TestEscapeSinks: what a namespace's objects say reaches the reader's
// terminal escaped in every line kubectl zz prints, not only in table
// cells: init --from's warnings quote a sidecar's mount path and image
// (twice: "not carried over" and the spec's validation), status quotes a
// crashed container's termination message (a hostile-tenant audit cleared
// an admin's screen and retitled the terminal through both).
func TestEscapeSinks(t *testing.T) {
	pods := map[string]string{"app": "esc"}
	always := corev1.ContainerRestartPolicyAlways
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "esc", Namespace: "ns-a"}, Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: pods},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: pods}, Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			InitContainers: []corev1.Container{{Name: "side", Image: "busybox" + hostile, RestartPolicy: &always,
				VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/x" + hostile}}}},
			Containers: []corev1.Container{{Name: "web", Image: "reg/web:1.0", Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz"}}}}},
		}}},
	}
	crash := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "cart-x", Namespace: "ns-a", Labels: map[string]string{contract.LabelApp: "cart"}},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: render.ContainerName, RestartCount: 2,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
				Message: "boom" + hostile, FinishedAt: metav1.NewTime(time.Now().Add(-5 * time.Minute))}},
		}}},
	}
	zz := withFakeClusters(t, fakeClient(d, fakeDeployment("ns-a", "cart", "cart", "1.0", 2, 1), crash), fakeClient())
	for _, tc := range []struct {
		args []string
		says string // the line that must quote the value, escaped
	}{
		{[]string{"init", "--from", "deployment/esc", "--context", "a"}, `volume v at /x^[]0;OWNED\a^[[2J`},
		{[]string{"init", "--from", "deployment/esc", "--context", "a"}, `busybox^[]0;OWNED\a`},
		// A termination message's ESC sequences are dropped before its
		// reason is picked (a coloured [error] line); what is left, an
		// 8-bit CSI here, is escaped.
		{[]string{"status", "cart", "--context", "a"}, `boom\u009b31mFAKE`},
	} {
		out, errOut, _ := zz(tc.args...)
		for name, s := range map[string]string{"stdout": out, "stderr": errOut} {
			if i := rawControl(s); i >= 0 {
				t.Errorf("%s: %s holds a raw control character %q at %d:\n%s", strings.Join(tc.args, " "), name, s[i:min(i+4, len(s))], i, s)
			}
		}
		if !strings.Contains(out+errOut, tc.says) {
			t.Errorf("%s: no line says %q:\n%s%s", strings.Join(tc.args, " "), tc.says, out, errOut)
		}
	}
}
