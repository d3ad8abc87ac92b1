package render

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
)

// initContainers are the spec's sidecars, then spec.initCommand's
// container. The kubelet starts init containers in order and a native
// sidecar (restartPolicy Always) is started before the next one starts
// (and has passed its startup probe, where its spec gives one: then a
// migration can go through a database proxy); it stops after the app.
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
// every container), and only the app's mounts each lists. No liveness
// probe, and a startup probe only where the spec names what to check
// (startup): a check zz could guess (a TCP connect to its first port)
// would hold a pod whose sidecar opens its port late or serves UDP, so
// without one the app starts once a sidecar's process has. The front port (TCP) gets a
// readiness connect: the Service sends traffic to it, and the kubelet
// counts a native sidecar's readiness in the pod's, so the pod serves once
// both the app and its proxy are ready; readiness never holds a start.
func (r *renderer) sidecars() []corev1.Container {
	var out []corev1.Container
	all := r.mounts()
	for i, sc := range r.s.Sidecars {
		cpu, mem := resource.MustParse(sc.CPU), resource.MustParse(sc.Memory)
		c := corev1.Container{
			Name:            sc.Name,
			Image:           sc.Image,
			ImagePullPolicy: PullPolicy(sc.Image),
			Command:         sc.Command,
			Args:            sc.Args,
			Env:             r.sidecarEnv(sc),
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
		for j, f := range sc.SecretFiles { // its own: the app's container does not mount them
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: sidecarSecretVolume(i, j), MountPath: f.MountPath, ReadOnly: true})
		}
		if sc.Startup != nil && !r.opts.Debug {
			c.StartupProbe = r.sidecarStartup(sc.Startup)
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

// sidecarStartup is the startup probe of a sidecar's startup, for
// spec.startupTimeout (DefaultSidecarStartupTimeout without it): the
// readiness check's timeout, every timeout (2 s by default), as the app's
// startup probe (appspec.ProbeTimings: the kubelet starts no try before the
// last ends, so a period shorter than a hung try's timeout stretched the
// window: 1 s tries of a 10 s healthTimeout made a minute ten; review 17b).
// The kubelet starts the next init container, then the app, only once it
// succeeds, and restarts the sidecar when it fails that long.
func (r *renderer) sidecarStartup(st *appspec.SidecarStartup) *corev1.Probe {
	var h corev1.ProbeHandler
	if st.Path != "" {
		h.HTTPGet = &corev1.HTTPGetAction{Path: st.Path, Port: intstr.FromString(st.Port)}
	} else {
		h.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromString(st.Port)}
	}
	ready, _ := appspec.ProbeTimings(r.s.HealthTimeout)
	return &corev1.Probe{ProbeHandler: h, PeriodSeconds: ready.Timeout, TimeoutSeconds: ready.Timeout,
		FailureThreshold: appspec.StartupTries(sidecarStartupWindow(r.s), ready.Timeout), SuccessThreshold: 1}
}

// sidecarStartupWindow is how long one sidecar's startup may take.
func sidecarStartupWindow(s *appspec.Spec) time.Duration {
	if d, err := time.ParseDuration(s.StartupTimeout); err == nil && d > 0 {
		return d
	}
	return appspec.DefaultSidecarStartupTimeout
}

// appStartupWindow is how long the app's startup probe allows:
// spec.startupTimeout (a worker's only with spec.healthCommand, its one
// probe: without, it bounds the sidecars' startup alone), java's three
// minutes without it, else none.
func appStartupWindow(s *appspec.Spec) time.Duration {
	if d, err := time.ParseDuration(s.StartupTimeout); err == nil && d > 0 && (s.Type != appspec.TypeWorker || len(s.HealthCommand) > 0) {
		return d
	}
	if s.Type == appspec.TypeJava {
		return 3 * time.Minute
	}
	return 0
}

// StartupWindow is how long a new pod of s may take to start by its
// startup probes: each sidecar's startup in turn (where the spec names what
// to check), then the app's (up to an hour each). The Deployment's
// progressDeadlineSeconds covers it (progressDeadline), and kubectl zz's
// wait for a rollout covers it for each batch of new pods
// (deploy.RolloutTimeout).
func StartupWindow(s *appspec.Spec) time.Duration {
	d := appStartupWindow(s)
	for _, sc := range s.Sidecars {
		if sc.Startup != nil {
			d += sidecarStartupWindow(s)
		}
	}
	return d
}

// StartupMargin is what a pod's start takes beside its startup probes:
// scheduling, the image pull, readiness's first periods.
const StartupMargin = 5 * time.Minute

// progressDeadline is the Deployment's progressDeadlineSeconds: the
// Kubernetes default of 600 s, or more where the startup probes allow a
// new pod longer (StartupWindow), and its soak (spec.minReadySeconds)
// after: a fixed 600 s had the Deployment report ProgressDeadlineExceeded,
// and deploy fail, while a pod with a 30 min startupTimeout was still
// legitimately starting (review 17b). Always above minReadySeconds, as
// the API requires.
func (r *renderer) progressDeadline() int32 {
	return int32(max(600*time.Second, StartupWindow(r.s)+r.s.MinReady()+StartupMargin) / time.Second)
}

// sidecarSecretVolume names the volume of the j-th of the i-th sidecar's
// secretFiles: by index, as the app's (a sidecar's name may fill a
// volume name's 63 characters alone).
func sidecarSecretVolume(i, j int) string {
	return fmt.Sprintf("sidecar%d-%s%d", i, secretVolumePrefix, j)
}

// sidecarVolumes are the Secret volumes of the sidecars' own secretFiles.
func (r *renderer) sidecarVolumes() []corev1.Volume {
	var v []corev1.Volume
	for i, sc := range r.s.Sidecars {
		for j, f := range sc.SecretFiles {
			v = append(v, corev1.Volume{Name: sidecarSecretVolume(i, j), VolumeSource: corev1.VolumeSource{Secret: secretSource(f)}})
		}
	}
	return v
}

// sidecarEnv is a sidecar's env and Secret env, as the app's are
// rendered (each after what it refers to), headed by contract.EnvAppPort
// (spec.port) where the app has a port: first, so that the sidecar's own
// values and args may refer to it, $(ZZ_APP_PORT).
func (r *renderer) sidecarEnv(sc appspec.Sidecar) []corev1.EnvVar {
	var env []corev1.EnvVar
	if r.s.Port != 0 {
		env = append(env, corev1.EnvVar{Name: contract.EnvAppPort, Value: strconv.Itoa(int(r.s.Port))})
	}
	return referencedFirst(slices.Concat(env, plainEnv(sc.Env), secretEnv(sc.SecretEnv)))
}
