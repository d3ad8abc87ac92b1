package specfrom

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// security carries the pod's and the app container's security settings
// into spec.securityContext as render writes them back: the ids and
// runAsNonRoot (the pod's, or the app container's where the pod has none),
// readOnlyRootFilesystem, and the Pod Security "restricted" container set
// (runAsNonRoot, allowPrivilegeEscalation false, capabilities drop ALL,
// seccomp RuntimeDefault at the pod or the container) as restricted. A
// setting the spec cannot say is said, never dropped: a hardened workload
// moved without it runs unhardened unseen (an audit: nginx's read-only
// root was dropped without a word).
func (f *from) security(pod corev1.PodSpec, app corev1.Container) {
	ps := pod.SecurityContext
	if ps == nil {
		ps = &corev1.PodSecurityContext{}
	}
	cs := app.SecurityContext
	if cs == nil {
		cs = &corev1.SecurityContext{}
	}
	sc := &appspec.SecurityContext{RunAsUser: ps.RunAsUser, RunAsGroup: ps.RunAsGroup, FSGroup: ps.FSGroup,
		RunAsNonRoot:           ptr.Deref(ps.RunAsNonRoot, false) || ptr.Deref(cs.RunAsNonRoot, false),
		ReadOnlyRootFilesystem: ptr.Deref(cs.ReadOnlyRootFilesystem, false)}
	if !ptr.Deref(ps.RunAsNonRoot, false) && ptr.Deref(cs.RunAsNonRoot, false) && len(f.app.Spec.Sidecars) > 0 {
		// render sets it on the pod: a sidecar whose image runs as root
		// (as log shippers' do) then does not start (a review).
		all := slices.Concat(pod.InitContainers, pod.Containers)
		for _, sc := range f.app.Spec.Sidecars {
			i := slices.IndexFunc(all, func(c corev1.Container) bool { return c.Name == sc.Name })
			if own := all[max(i, 0)].SecurityContext; i >= 0 && own != nil && (ptr.Deref(own.RunAsNonRoot, false) || ptr.Deref(own.RunAsUser, 0) > 0) {
				continue // it runs as non-root already
			}
			f.lost("sidecar %s: container %s's securityContext.runAsNonRoot is the pod's here (spec.securityContext), so it must run as non-root too: if its image runs as root, it does not start (use an image with a non-root user)", sc.Name, app.Name)
		}
	}
	if ptr.Deref(ps.RunAsNonRoot, false) && cs.RunAsNonRoot != nil && !*cs.RunAsNonRoot {
		f.lost("container %s: securityContext.runAsNonRoot false, the pod's is true; the spec has the pod's, so the app must run as non-root", app.Name)
	}
	// The container's ids become the pod's where the pod has none (render
	// sets them on the pod); a different one has no field.
	for _, id := range []struct {
		name      string
		pod, cont **int64
	}{{"runAsUser", &sc.RunAsUser, &cs.RunAsUser}, {"runAsGroup", &sc.RunAsGroup, &cs.RunAsGroup}} {
		switch c := *id.cont; {
		case c == nil:
		case *id.pod == nil:
			*id.pod = c
			if len(f.app.Spec.Sidecars) > 0 {
				f.lost("container %s: securityContext.%s %d is the pod's here (spec.securityContext), so the sidecars run as it too", app.Name, id.name, *c)
			}
		case **id.pod != *c:
			f.lost("container %s: securityContext.%s %d, the pod's is %d; the spec has the pod's (spec.securityContext.%s)", app.Name, id.name, *c, **id.pod, id.name)
		}
	}
	seccomp := cs.SeccompProfile
	if seccomp == nil {
		seccomp = ps.SeccompProfile
	}
	runtimeDefault := seccomp != nil && seccomp.Type == corev1.SeccompProfileTypeRuntimeDefault
	dropAll := cs.Capabilities != nil && slices.Contains(cs.Capabilities.Drop, "ALL")
	noEscalation := cs.AllowPrivilegeEscalation != nil && !*cs.AllowPrivilegeEscalation
	if sc.RunAsNonRoot && noEscalation && dropAll && runtimeDefault {
		// restricted renders runAsNonRoot itself.
		sc.Restricted, sc.RunAsNonRoot = true, false
	} else {
		if noEscalation {
			f.lost("container %s: securityContext.allowPrivilegeEscalation false; the spec says it only with the rest of Pod Security \"restricted\" (spec.securityContext.restricted: runAsNonRoot, capabilities drop ALL, seccomp RuntimeDefault)", app.Name)
		}
		if cs.Capabilities != nil && len(cs.Capabilities.Drop) > 0 {
			f.lost("container %s: securityContext.capabilities.drop %v; the spec drops ALL only with spec.securityContext.restricted", app.Name, cs.Capabilities.Drop)
		}
		if seccomp != nil {
			f.lost("seccompProfile %s; the spec sets RuntimeDefault only with spec.securityContext.restricted", seccomp.Type)
		}
	}
	if sc.Restricted && seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		f.lost("seccompProfile %s; restricted sets RuntimeDefault", seccomp.Type)
	}
	if cs.Capabilities != nil && len(cs.Capabilities.Add) > 0 {
		f.lost("container %s: securityContext.capabilities.add %v has no field in the spec", app.Name, cs.Capabilities.Add)
	}
	if cs.SeccompProfile != nil && ps.SeccompProfile != nil && !equality.Semantic.DeepEqual(cs.SeccompProfile, ps.SeccompProfile) {
		f.lost("container %s: its own seccompProfile %s beside the pod's %s; the spec has one", app.Name, cs.SeccompProfile.Type, ps.SeccompProfile.Type)
	}
	if ptr.Deref(cs.Privileged, false) {
		f.lost("container %s: securityContext.privileged has no field in the spec", app.Name)
	}
	if cs.SELinuxOptions != nil || cs.ProcMount != nil || cs.AppArmorProfile != nil || cs.WindowsOptions != nil {
		f.lost("container %s: securityContext seLinuxOptions, procMount, appArmorProfile or windowsOptions has no field in the spec", app.Name)
	}
	if ps.SELinuxOptions != nil || len(ps.SupplementalGroups) > 0 || len(ps.Sysctls) > 0 || ps.FSGroupChangePolicy != nil || ps.AppArmorProfile != nil || ps.WindowsOptions != nil {
		f.lost("pod securityContext: seLinuxOptions, supplementalGroups, sysctls, fsGroupChangePolicy, appArmorProfile or windowsOptions has no field in the spec")
	}
	if *sc != (appspec.SecurityContext{}) {
		f.app.Spec.SecurityContext = sc
	}
}

// sidecarSecurity says where a sidecar's securityContext differs from
// what it gets: render gives every sidecar the app container's part of
// spec.securityContext (readOnlyRootFilesystem, restricted's settings), so
// one of its own is lost, and one without any gains the app's (a shipper
// that writes its own state fails on a read-only root).
func (f *from) sidecarSecurity(pod corev1.PodSpec) {
	want := &corev1.SecurityContext{}
	if sc := f.app.Spec.SecurityContext; sc != nil {
		if sc.ReadOnlyRootFilesystem {
			want.ReadOnlyRootFilesystem = ptr.To(true)
		}
		if sc.Restricted {
			want.AllowPrivilegeEscalation = ptr.To(false)
			want.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
		}
	}
	gets := "none here"
	switch sc := f.app.Spec.SecurityContext; {
	case *want == (corev1.SecurityContext{}):
	case sc.ReadOnlyRootFilesystem && sc.Restricted:
		gets = "readOnlyRootFilesystem and restricted's settings"
	case sc.Restricted:
		gets = "restricted's settings"
	default:
		gets = "readOnlyRootFilesystem"
	}
	var scs []corev1.Container
	for _, c := range pod.InitContainers {
		if contract.IsNativeSidecar(c) {
			scs = append(scs, c)
		}
	}
	for _, c := range append(scs, pod.Containers[1:]...) {
		own := &corev1.SecurityContext{}
		if c.SecurityContext != nil {
			cp := *c.SecurityContext
			own = &cp
		}
		hadOwn := *own != (corev1.SecurityContext{})
		f.sidecarUser(c.Name, own) // what the pod's part decides, taken out
		switch {
		case equality.Semantic.DeepEqual(own, want):
		case *own == (corev1.SecurityContext{}) && hadOwn:
			f.lost("sidecar %s: had no securityContext beyond its user settings; a sidecar gets the app container's part of spec.securityContext (%s): one that writes needs a scratch in its mounts", c.Name, gets)
		case *own == (corev1.SecurityContext{}):
			f.lost("sidecar %s: had no securityContext; a sidecar gets the app container's part of spec.securityContext (%s): one that writes needs a scratch in its mounts", c.Name, gets)
		default:
			f.lost("sidecar %s: its own securityContext; a sidecar gets the app container's part of spec.securityContext (%s)", c.Name, gets)
		}
	}
}

// sidecarUser compares sidecar name's own user, group and runAsNonRoot
// (own) with what the spec puts on the pod, which render gives every
// container: a value equal to the pod's loses nothing (an audit was told
// a runAsNonRoot the pod gave it too was not carried), and another one is
// said as the user it will run as (a root log shipper becomes the pod's
// user, unsaid before). Both are taken out of own, so that what is left is
// compared with the container part.
func (f *from) sidecarUser(name string, own *corev1.SecurityContext) {
	var podUser, podGroup *int64
	nonRoot := false
	if sc := f.app.Spec.SecurityContext; sc != nil {
		podUser, podGroup, nonRoot = sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot || sc.Restricted
	}
	withNonRoot := ""
	if nonRoot {
		withNonRoot = " with runAsNonRoot"
	}
	becomes := "its image's user"
	if podUser != nil {
		becomes = fmt.Sprintf("the pod's user %d", *podUser)
	}
	said := false
	if u := own.RunAsUser; u != nil && (podUser == nil || *u != *podUser) {
		was, lose := fmt.Sprintf("user %d", *u), ""
		if *u == 0 {
			was, lose = "root (runAsUser 0)", ": files only root can read are then out of its reach"
		}
		f.lost("sidecar %s: ran as %s; it will run as %s%s (spec.securityContext is the pod's, every container's)%s", name, was, becomes, withNonRoot, lose)
		said = true
	}
	if g := own.RunAsGroup; g != nil && (podGroup == nil || *g != *podGroup) {
		group := "its image's group"
		if podGroup != nil {
			group = fmt.Sprintf("the pod's group %d", *podGroup)
		}
		f.lost("sidecar %s: ran as group %d; it will run as %s (spec.securityContext is the pod's)", name, *g, group)
	}
	if r := own.RunAsNonRoot; r != nil && *r != nonRoot && !said {
		if nonRoot {
			f.lost("sidecar %s: runAsNonRoot false; the pod's runAsNonRoot (spec.securityContext) applies to it: if its image runs as root, it does not start", name)
		} else {
			f.lost("sidecar %s: runAsNonRoot true; the spec's pod has none, so nothing checks that it runs as non-root (set spec.securityContext.runAsNonRoot for all)", name)
		}
	}
	own.RunAsUser, own.RunAsGroup, own.RunAsNonRoot = nil, nil, nil
}
