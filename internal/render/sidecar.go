package render

import (
	"path"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// initContainers are the spec's sidecars, then spec.initCommand's
// container. The kubelet starts init containers in order and a native
// sidecar (restartPolicy Always) is up before the next one starts, so a
// migration can go through a database proxy; it stops after the app.
func (r *renderer) initContainers() []corev1.Container {
	out := r.sidecars()
	if len(r.s.InitCommand) > 0 {
		out = append(out, r.initContainer())
	}
	return out
}

// sidecars are the spec's native sidecars: their own image, command, env,
// CPU and memory (requests = limits, so the pod's QoS class stays the
// app's), the app's security settings (a restricted namespace judges
// every container), and only the app's mounts each lists. No startup or
// liveness probe: the app starts once a sidecar's process has, and a check
// zz could guess (a TCP connect to its first port) would hold a pod whose
// sidecar opens its port late or serves UDP. The front port (TCP) gets a
// readiness connect: the Service sends traffic to it, and the kubelet
// counts a native sidecar's readiness in the pod's, so the pod serves once
// both the app and its proxy are ready; readiness never holds a start.
func (r *renderer) sidecars() []corev1.Container {
	var out []corev1.Container
	all := r.mounts()
	for _, sc := range r.s.Sidecars {
		cpu, mem := resource.MustParse(sc.CPU), resource.MustParse(sc.Memory)
		c := corev1.Container{
			Name:    sc.Name,
			Image:   sc.Image,
			Command: sc.Command,
			Args:    sc.Args,
			Env:     r.sidecarEnv(sc.Env),
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem},
			},
			RestartPolicy:            ptr.To(corev1.ContainerRestartPolicyAlways),
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			SecurityContext:          r.containerSecurity(),
		}
		for _, p := range sc.Ports {
			c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.Port, Protocol: corev1.Protocol(p.Protocol)})
			if p.Front && !r.opts.Debug {
				ready, _ := appspec.ProbeTimings(r.s.HealthTimeout)
				c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString(p.Name)}},
					PeriodSeconds: ready.Period, TimeoutSeconds: ready.Timeout, FailureThreshold: 3, SuccessThreshold: 1}
			}
		}
		for _, m := range all { // in the app's order, whatever the list's
			if slices.ContainsFunc(sc.Mounts, func(p string) bool { return path.Clean(p) == path.Clean(m.MountPath) }) {
				c.VolumeMounts = append(c.VolumeMounts, m)
			}
		}
		out = append(out, c)
	}
	return out
}

// sidecarEnv is a sidecar's env, headed by contract.EnvAppPort (spec.port)
// where the app has a port: first, so that the sidecar's own values and
// args may refer to it, $(ZZ_APP_PORT).
func (r *renderer) sidecarEnv(env map[string]string) []corev1.EnvVar {
	if r.s.Port == 0 {
		return envList(env)
	}
	return referencedFirst(append([]corev1.EnvVar{{Name: contract.EnvAppPort, Value: strconv.Itoa(int(r.s.Port))}}, plainEnv(env)...))
}
