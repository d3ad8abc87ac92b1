package specfrom

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/zzcloud/zz/internal/appspec"
)

// isNativeSidecar says whether an init container runs beside the app
// (restartPolicy Always) rather than to completion before it.
func isNativeSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// sidecars carries the pod's native sidecars, then its containers other
// than the app's, into spec.sidecars. A plain second container becomes a
// native sidecar, said: it then starts before the app and stops after it,
// which is what a proxy or a log shipper beside an app wants, and the one
// way the spec runs a second container; refusing it would leave the whole
// app to be written by hand.
func (f *from) sidecars(pod corev1.PodSpec, app corev1.Container) {
	seenInit := false
	for _, c := range pod.InitContainers {
		if !isNativeSidecar(c) {
			seenInit = true
			continue
		}
		if seenInit {
			f.lost("init container %s: a native sidecar after a plain init container; spec.sidecars start before every init container (initCommand's too)", c.Name)
		}
		f.sidecar(c, app, pod.Volumes)
	}
	for _, c := range pod.Containers[1:] {
		f.lost("container %s: carried as spec.sidecars (a native sidecar): it now starts before the app and initCommand, and stops after the app", c.Name)
		f.sidecar(c, app, pod.Volumes)
	}
}

// sidecar carries one container into spec.sidecars: its name, image,
// command, args, plain env, CPU and memory, named ports and the mounts it
// shares with the app container (the same volume whole at the same path);
// what else it has is said.
func (f *from) sidecar(c, app corev1.Container, volumes []corev1.Volume) {
	sc := appspec.Sidecar{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			f.lost("sidecar %s: env %s from a reference; a sidecar's env is plain values (its Secrets come as files: spec.secretFiles, listed in its mounts)", c.Name, e.Name)
			continue
		}
		if sc.Env == nil {
			sc.Env = map[string]string{}
		}
		sc.Env[e.Name] = e.Value
	}
	if len(c.EnvFrom) > 0 {
		f.lost("sidecar %s: envFrom; a sidecar's env is plain values", c.Name)
	}
	pick := func(name corev1.ResourceName) string {
		if q, ok := c.Resources.Limits[name]; ok {
			return q.String()
		}
		if q, ok := c.Resources.Requests[name]; ok {
			return q.String()
		}
		return ""
	}
	sc.CPU, sc.Memory = pick(corev1.ResourceCPU), pick(corev1.ResourceMemory)
	if sc.CPU == "" || sc.Memory == "" {
		f.lost("sidecar %s: no cpu or memory limit; the spec's default is %s and %s, requests = limits", c.Name, appspec.DefaultSidecarCPU, appspec.DefaultSidecarMemory)
	}
	for name := range c.Resources.Limits {
		if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
			f.lost("sidecar %s: resource %s; a sidecar has cpu and memory only (GPU is the app container's)", c.Name, name)
		}
	}
	for _, p := range c.Ports {
		if p.Name == "" {
			f.lost("sidecar %s: port %d has no name; a sidecar's ports are named", c.Name, p.ContainerPort)
			continue
		}
		proto := ""
		if p.Protocol == corev1.ProtocolUDP {
			proto = string(corev1.ProtocolUDP)
		}
		sc.Ports = append(sc.Ports, appspec.Port{Name: p.Name, Port: p.ContainerPort, Protocol: proto})
	}
	for _, m := range c.VolumeMounts {
		shared := slices.ContainsFunc(app.VolumeMounts, func(a corev1.VolumeMount) bool {
			return a.Name == m.Name && a.MountPath == m.MountPath && a.SubPath == "" && m.SubPath == "" && a.ReadOnly == m.ReadOnly
		})
		if !shared {
			f.lost("sidecar %s: volume %s at %s, which the app container does not mount alike; a sidecar shares the app's mounts at the same paths (spec.sidecars[].mounts)", c.Name, m.Name, m.MountPath)
			continue
		}
		sc.Mounts = append(sc.Mounts, m.MountPath)
	}
	if c.ReadinessProbe != nil || c.LivenessProbe != nil || c.StartupProbe != nil || c.Lifecycle != nil {
		f.lost("sidecar %s: probes and lifecycle hooks; a sidecar has none", c.Name)
	}
	if c.SecurityContext != nil && !equality.Semantic.DeepEqual(c.SecurityContext, app.SecurityContext) {
		f.lost("sidecar %s: its own securityContext; a sidecar gets the app container's (spec.securityContext)", c.Name)
	}
	f.app.Spec.Sidecars = append(f.app.Spec.Sidecars, sc)
}
