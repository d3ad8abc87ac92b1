package specfrom

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// TestSecurityFrom: the app container's securityContext is carried where
// the spec can say it (the audit's nginx and restricted charts), and what
// it cannot say is said, never dropped.
func TestSecurityFrom(t *testing.T) {
	restricted := func() *corev1.SecurityContext {
		return &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			ReadOnlyRootFilesystem: ptr.To(true)}
	}
	uid := ptr.To[int64](101)
	tests := []struct {
		name     string
		pod      *corev1.PodSecurityContext
		app      *corev1.SecurityContext
		sidecars []corev1.Container
		want     *appspec.SecurityContext
		notes    []string // each said once; no other about security
	}{
		{name: "nginx chart: read-only root, no escalation alone",
			pod:   &corev1.PodSecurityContext{RunAsUser: uid, RunAsGroup: uid, FSGroup: uid, RunAsNonRoot: ptr.To(true)},
			app:   &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)},
			want:  &appspec.SecurityContext{RunAsUser: uid, RunAsGroup: uid, FSGroup: uid, RunAsNonRoot: true, ReadOnlyRootFilesystem: true},
			notes: []string{"container app: securityContext.allowPrivilegeEscalation false; the spec says it only with"}},
		{name: "the restricted set on the container, with an envoy of its own user",
			app: restricted(),
			sidecars: []corev1.Container{{Name: "proxy", Image: "envoy:1.31.0",
				SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), RunAsUser: ptr.To[int64](1337)}}},
			want: &appspec.SecurityContext{ReadOnlyRootFilesystem: true, Restricted: true},
			notes: []string{"sidecar proxy: ran as user 1337; it will run as its image's user with runAsNonRoot (spec.securityContext is the pod's, every container's)",
				"sidecar proxy: its own securityContext; a sidecar gets the app container's part of spec.securityContext (readOnlyRootFilesystem and restricted's settings)"}},
		// An app-developer audit's cloud-sql-proxy manifest: what the
		// sidecar says, the pod gives it; nothing is lost.
		{name: "a sidecar's runAsNonRoot, the pod's too",
			pod:      &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000)},
			sidecars: []corev1.Container{{Name: "cloud-sql-proxy", Image: "cloud-sql-proxy:2", SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}}},
			want:     &appspec.SecurityContext{RunAsNonRoot: true, RunAsUser: ptr.To[int64](1000)}},
		{name: "a sidecar's user and group, the pod's",
			pod:      &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](1000)},
			sidecars: []corev1.Container{{Name: "px", Image: "px:2", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](1000)}}},
			want:     &appspec.SecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](1000)}},
		// The audit's root log shipper (a common chart shape): it becomes the pod's user, said.
		{name: "a root sidecar in a non-root pod",
			pod: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](10001)},
			sidecars: []corev1.Container{{Name: "fluent-bit", Image: "fluent-bit:3",
				SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(false), RunAsUser: ptr.To[int64](0)}}},
			want:  &appspec.SecurityContext{RunAsNonRoot: true, RunAsUser: ptr.To[int64](10001)},
			notes: []string{"sidecar fluent-bit: ran as root (runAsUser 0); it will run as the pod's user 10001 with runAsNonRoot (spec.securityContext is the pod's, every container's): files only root can read are then out of its reach"}},
		{name: "a sidecar's runAsNonRoot false in a non-root pod",
			pod:      &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
			sidecars: []corev1.Container{{Name: "px", Image: "px:2", SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(false), RunAsGroup: ptr.To[int64](5)}}},
			want:     &appspec.SecurityContext{RunAsNonRoot: true},
			notes: []string{"sidecar px: ran as group 5; it will run as its image's group",
				"sidecar px: runAsNonRoot false; the pod's runAsNonRoot (spec.securityContext) applies to it: if its image runs as root, it does not start"}},
		{name: "a sidecar's runAsNonRoot alone, beside a read-only root",
			app:      &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)},
			sidecars: []corev1.Container{{Name: "px", Image: "px:2", SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}}},
			want:     &appspec.SecurityContext{ReadOnlyRootFilesystem: true},
			notes: []string{"sidecar px: runAsNonRoot true; the spec's pod has none, so nothing checks that it runs as non-root",
				"sidecar px: had no securityContext beyond its user settings; a sidecar gets the app container's part of spec.securityContext (readOnlyRootFilesystem)"}},
		{name: "seccomp on the pod, the rest on the container",
			pod:  &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			app:  &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			want: &appspec.SecurityContext{Restricted: true}},
		{name: "added capabilities and a container user other than the pod's",
			pod:  &corev1.PodSecurityContext{RunAsUser: uid},
			app:  &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}},
			want: &appspec.SecurityContext{RunAsUser: uid},
			notes: []string{"container app: securityContext.runAsUser 1000, the pod's is 101",
				"container app: securityContext.capabilities.add [NET_ADMIN] has no field"}},
		{name: "restricted but for seccomp",
			app:   &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			want:  &appspec.SecurityContext{RunAsNonRoot: true},
			notes: []string{"container app: securityContext.allowPrivilegeEscalation false", "container app: securityContext.capabilities.drop [ALL]"}},
		{name: "a sidecar without one beside a read-only root",
			app:      &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)},
			sidecars: []corev1.Container{{Name: "fluent-bit", Image: "fluent-bit:3"}},
			want:     &appspec.SecurityContext{ReadOnlyRootFilesystem: true},
			notes:    []string{"sidecar fluent-bit: had no securityContext; a sidecar gets the app container's part of spec.securityContext (readOnlyRootFilesystem)"}},
		{name: "privileged",
			app:   &corev1.SecurityContext{Privileged: ptr.To(true)},
			notes: []string{"container app: securityContext.privileged has no field"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := corev1.Container{Name: "app", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}, SecurityContext: tc.app}
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{contract.LabelApp: "web"}},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{SecurityContext: tc.pod, Containers: append([]corev1.Container{app}, tc.sidecars...)}}}}
			got, notes := Spec("web", Live{Deployment: d})
			if !reflect.DeepEqual(got.Spec.SecurityContext, tc.want) {
				t.Errorf("securityContext %+v, want %+v", got.Spec.SecurityContext, tc.want)
			}
			said := make([]int, len(tc.notes))
			for _, n := range notes {
				i := slices.IndexFunc(tc.notes, func(w string) bool { return strings.HasPrefix(n, w) })
				switch {
				case i >= 0:
					said[i]++
				case strings.Contains(n, "ecurity") || strings.Contains(n, "seccomp"):
					t.Errorf("note %q", n)
				}
			}
			for i, w := range tc.notes {
				if said[i] != 1 {
					t.Errorf("%q said %d times in %q", w, said[i], notes)
				}
			}
		})
	}
}

// TestSecurityRoundTrip: what kubectl zz renders for each securityContext
// comes back as the same, with nothing said about it.
func TestSecurityRoundTrip(t *testing.T) {
	uid := ptr.To[int64](10001)
	for _, sc := range []*appspec.SecurityContext{
		{RunAsUser: uid, RunAsGroup: uid, FSGroup: uid, RunAsNonRoot: true, ReadOnlyRootFilesystem: true},
		{Restricted: true},
		{RunAsUser: uid, ReadOnlyRootFilesystem: true, Restricted: true},
	} {
		app := &appspec.App{APIVersion: appspec.APIVersion, Kind: appspec.Kind, Name: "web",
			Spec: appspec.Spec{Type: appspec.TypeWeb, Image: "web:1", SecurityContext: sc,
				Sidecars: []appspec.Sidecar{{Name: "proxy", Image: "envoy:1"}}}}
		app.Default()
		var l Live
		for _, o := range render.Render(app, render.Options{Namespace: "ns"}) {
			if d, ok := o.(*appsv1.Deployment); ok {
				l.Deployment = d
			}
		}
		got, notes := Spec("web", l)
		if !reflect.DeepEqual(got.Spec.SecurityContext, sc) {
			t.Errorf("securityContext %+v, want %+v", got.Spec.SecurityContext, sc)
		}
		for _, n := range notes {
			if strings.Contains(n, "ecurity") || strings.Contains(n, "seccomp") {
				t.Errorf("%+v: note %q", sc, n)
			}
		}
	}
}

// TestRunAsNonRootMovesToTheSidecars: the app container alone has runAsNonRoot (its sidecar runs as its image's
// user, root): the spec's securityContext.runAsNonRoot is rendered on the
// pod, so the sidecar gets it too and fails to start ("container has
// runAsNonRoot and image will run as root"). It must at least be said.
func TestRunAsNonRootMovesToTheSidecars(t *testing.T) {
	sel := map[string]string{contract.LabelApp: "shop"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel},
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "reg/shop:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}},
			{Name: "shipper", Image: "fluent/fluent-bit:3"},
		}}}}}
	app, notes := Spec("shop", Live{Deployment: d})
	if app.Spec.SecurityContext == nil || !app.Spec.SecurityContext.RunAsNonRoot {
		t.Fatalf("runAsNonRoot not carried: %+v", app.Spec.SecurityContext)
	}
	for _, n := range notes {
		if strings.Contains(n, "shipper") && strings.Contains(n, "runAsNonRoot") {
			return
		}
	}
	t.Errorf("the app container's runAsNonRoot becomes the pod's (every sidecar's) unsaid; notes %q", notes)
}
