package render

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// Pod settings every app gets.
const (
	// ContainerName is the app's container in every pod.
	ContainerName = appspec.AppContainerName
	// InitContainerName runs spec.initCommand.
	InitContainerName = appspec.InitContainerName
	// gracePeriod leaves the app time to finish requests after the drain.
	gracePeriod     = 30
	javaGracePeriod = 60
	// envJavaToolOptions is read by every JVM at start.
	envJavaToolOptions = "JAVA_TOOL_OPTIONS"
	// javaOptions size the heap from the container's memory limit and make an
	// out-of-memory JVM exit, so the kubelet restarts it instead of it limping.
	javaOptions = "-XX:MaxRAMPercentage=75.0 -XX:+ExitOnOutOfMemoryError"
	// Volume names in the pod.
	configVolume = "config"
	dataVolume   = "data"
	// secretVolumePrefix and the index in spec.secretFiles name a Secret's
	// volume.
	secretVolumePrefix = "secret-"
)

func (r *renderer) podTemplate() corev1.PodTemplateSpec {
	// A config change renames the ConfigMap, which rolls the pods.
	annotations := copyMap(r.s.Annotations)
	set := func(key, value string) {
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[key] = value
	}
	if r.opts.Debug {
		set(contract.AnnotationDebug, "true")
	}
	if r.s.GPUNUMABind {
		set(contract.AnnotationGPUNUMABind, "true")
	}
	if r.s.GPUWhole {
		set(contract.AnnotationGPUWhole, "true")
	}
	if len(r.s.GPUModels) > 0 {
		set(contract.AnnotationGPUModel, strings.Join(r.s.GPUModels, ","))
	}
	if len(r.s.AvoidGPUModels) > 0 {
		set(contract.AnnotationGPUModelAvoid, strings.Join(r.s.AvoidGPUModels, ","))
	}
	spec := corev1.PodSpec{
		ServiceAccountName:            r.s.ServiceAccount,
		SecurityContext:               r.podSecurity(),
		EnableServiceLinks:            ptr.To(false),
		TerminationGracePeriodSeconds: ptr.To(r.gracePeriod()),
		Affinity:                      r.affinity(),
		TopologySpreadConstraints:     r.zoneSpread(),
		Containers:                    []corev1.Container{r.container()},
		InitContainers:                r.initContainers(),
		Volumes:                       r.volumes(),
		PriorityClassName:             r.s.PriorityClassName,
	}
	if r.s.AsksGPU() {
		// Only zz-scheduler places GPU pods (it calls the extender that
		// chooses their cards). The webhook routes them there in the
		// namespaces it serves; named here, they are placed in any other
		// too instead of waiting on the default scheduler for good.
		// Other apps' scheduler stays the webhook policy's choice.
		spec.SchedulerName = contract.SchedulerName
	}
	// What a ResourceQuota on GPU memory counts, set here too so an app
	// deployed where the webhook does not run is counted (and admitted).
	gpushare.SetMemTotal(&corev1.Pod{Spec: spec})
	for _, name := range r.s.ImagePullSecrets {
		spec.ImagePullSecrets = append(spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
	}
	if r.s.Pool != "" {
		spec.NodeSelector = map[string]string{contract.LabelPool: r.s.Pool}
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: r.podLabels(), Annotations: annotations},
		Spec:       spec,
	}
}

// affinity spreads the app's pods over hosts: preferred by default, so a
// small cluster still runs every replica; required when the spec asks.
func (r *renderer) affinity() *corev1.Affinity {
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: r.selector()},
		TopologyKey:   corev1.LabelHostname,
	}
	anti := &corev1.PodAntiAffinity{}
	if r.s.AntiAffinity == appspec.AntiAffinityRequired {
		anti.RequiredDuringSchedulingIgnoredDuringExecution = []corev1.PodAffinityTerm{term}
	} else {
		anti.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term}}
	}
	return &corev1.Affinity{PodAntiAffinity: anti}
}

// ZoneTopologyKey is the node label spec.zoneSpread spreads over: status
// judges the spread by the same key (deploy.ZoneGapOf).
const ZoneTopologyKey = corev1.LabelTopologyZone

// zoneSpread spreads the app's pods evenly over zones when the spec asks
// (nil otherwise: apps without spec.zoneSpread render as before). The
// selector is the anti-affinity's (every pod of the app), narrowed by
// matchLabelKeys to the pod's own ReplicaSet: in a rolling update the old
// ReplicaSet's pods, about to go, are not counted against the new ones,
// and a canary (its own ReplicaSet) spreads on its own beside the stable
// pods rather than pushing them out of its zone. nodeTaintsPolicy Honor:
// a zone whose nodes the pod cannot go to (cordoned, NotReady or
// unreachable in an outage, tainted for another use) leaves the skew with
// its pods; under upstream's Ignore it would still count, and under
// required the other zones could take only its count plus one, so the
// replacements of the pods an outage killed would wait.
func (r *renderer) zoneSpread() []corev1.TopologySpreadConstraint {
	var when corev1.UnsatisfiableConstraintAction
	switch r.s.ZoneSpread {
	case appspec.ZoneSpreadPreferred:
		when = corev1.ScheduleAnyway
	case appspec.ZoneSpreadRequired:
		when = corev1.DoNotSchedule
	default:
		return nil
	}
	return []corev1.TopologySpreadConstraint{{
		MaxSkew:           1,
		TopologyKey:       ZoneTopologyKey,
		WhenUnsatisfiable: when,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: r.selector()},
		MatchLabelKeys:    []string{appsv1.DefaultDeploymentUniqueLabelKey},
		NodeTaintsPolicy:  ptr.To(corev1.NodeInclusionPolicyHonor),
	}}
}

// gracePeriod is the spec's, else 30 s (60 s for java).
func (r *renderer) gracePeriod() int64 {
	if d, err := time.ParseDuration(r.s.TerminationGracePeriod); err == nil {
		return int64(d / time.Second)
	}
	if r.s.Type == appspec.TypeJava {
		return javaGracePeriod
	}
	return gracePeriod
}

// PullPolicy is the pull policy rendered for image: Always for a mutable
// tag (latest, or none), so each start pulls it, as kubectl zz deploy's
// warning promises a restart does; none for the others, the apiserver's
// default (IfNotPresent). The apiserver defaults it by the tag only when
// the Deployment is created: an app that moved from 1.0 to :latest kept
// IfNotPresent under server-side apply, and a restart did not pull (an
// app-developer audit).
func PullPolicy(image string) corev1.PullPolicy {
	if tag := appspec.ImageTag(image); !strings.Contains(image, "@") && (tag == "" || tag == "latest") {
		return corev1.PullAlways
	}
	return ""
}

func (r *renderer) container() corev1.Container {
	c := corev1.Container{
		Name:                     ContainerName,
		Image:                    r.s.Image,
		ImagePullPolicy:          PullPolicy(r.s.Image),
		Command:                  r.s.Command,
		Args:                     r.s.Args,
		EnvFrom:                  r.envFrom(),
		Env:                      r.env(),
		Resources:                r.resources(),
		VolumeMounts:             r.mounts(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if r.s.Type != appspec.TypeWorker {
		c.Ports = []corev1.ContainerPort{{Name: r.portName(), ContainerPort: r.s.Port, Protocol: corev1.ProtocolTCP}}
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: appspec.DrainSeconds}}}
	}
	for _, p := range r.s.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.Port, Protocol: corev1.Protocol(p.Protocol)})
	}
	if len(r.s.PreStop) > 0 {
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: r.s.PreStop}}}
	}
	if !r.opts.Debug {
		r.probes(&c)
	}
	c.SecurityContext = r.containerSecurity()
	return c
}

// initContainer runs spec.initCommand before the app in each pod: the
// app's image, env, files and security, its CPU and memory but no GPU (a
// migration needs no card, and the cards are the app container's).
func (r *renderer) initContainer() corev1.Container {
	res := r.resources()
	for _, l := range []corev1.ResourceList{res.Requests, res.Limits} {
		for name := range l {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				delete(l, name)
			}
		}
	}
	return corev1.Container{
		Name:                     InitContainerName,
		Image:                    r.s.Image,
		ImagePullPolicy:          PullPolicy(r.s.Image),
		Command:                  r.s.InitCommand,
		EnvFrom:                  r.envFrom(),
		Env:                      r.env(),
		Resources:                res,
		VolumeMounts:             r.mounts(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          r.containerSecurity(),
	}
}

// podSecurity is the spec's user, group and fsGroup; with restricted,
// runAsNonRoot and the runtime's default seccomp profile, as the Pod
// Security "restricted" level requires. Nil without a securityContext, so
// apps without one render as before.
func (r *renderer) podSecurity() *corev1.PodSecurityContext {
	sc := r.s.SecurityContext
	if sc == nil {
		return nil
	}
	p := &corev1.PodSecurityContext{RunAsUser: sc.RunAsUser, RunAsGroup: sc.RunAsGroup, FSGroup: sc.FSGroup}
	if sc.RunAsNonRoot || sc.Restricted {
		p.RunAsNonRoot = ptr.To(true)
	}
	if sc.Restricted {
		p.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
	return p
}

// containerSecurity is the app container's: a read-only root filesystem
// when asked; with restricted, no privilege escalation and no capability.
func (r *renderer) containerSecurity() *corev1.SecurityContext {
	sc := r.s.SecurityContext
	if sc == nil || (!sc.ReadOnlyRootFilesystem && !sc.Restricted) {
		return nil
	}
	c := &corev1.SecurityContext{}
	if sc.ReadOnlyRootFilesystem {
		c.ReadOnlyRootFilesystem = ptr.To(true)
	}
	if sc.Restricted {
		c.AllowPrivilegeEscalation = ptr.To(false)
		c.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	}
	return c
}

// probes: readiness gates traffic (HTTP 200 on the health path for web and
// java, a TCP connect or the gRPC health protocol for rpc, spec.healthCommand
// exiting 0 on any type, a worker's only check); liveness restarts a hung app, late and
// tolerant so a slow start or a GC pause does not kill it; a startup probe
// allows spec.startupTimeout (java: three minutes) before liveness counts.
func (r *renderer) probes(c *corev1.Container) {
	var handler corev1.ProbeHandler
	switch {
	case len(r.s.HealthCommand) > 0:
		handler.Exec = &corev1.ExecAction{Command: r.s.HealthCommand}
	case r.s.Type == appspec.TypeWeb || r.s.Type == appspec.TypeJava:
		handler.HTTPGet = &corev1.HTTPGetAction{Path: r.s.HealthPath, Port: intstr.FromString(r.portName())}
	case r.s.Type == appspec.TypeRPC:
		if r.s.HealthCheck == appspec.HealthCheckGRPC {
			// The kubelet's gRPC probe takes a port number, not a name.
			handler.GRPC = &corev1.GRPCAction{Port: r.s.Port, Service: ptr.To("")} // as the apiserver defaults it: "service: null" read as a mistake
		} else {
			handler.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromString(r.portName())}
		}
	default:
		return
	}
	ready, live := appspec.ProbeTimings(r.s.HealthTimeout)
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: handler, PeriodSeconds: ready.Period, TimeoutSeconds: ready.Timeout, FailureThreshold: 3, SuccessThreshold: 1}
	c.LivenessProbe = &corev1.Probe{ProbeHandler: handler, InitialDelaySeconds: 30, PeriodSeconds: live.Period, TimeoutSeconds: live.Timeout, FailureThreshold: 3, SuccessThreshold: 1}
	// Tries of the readiness check's period (at least the timeout, so a
	// hung app's tries span startupTimeout too), at least one.
	startup := int32(0)
	if d := appStartupWindow(r.s); d > 0 {
		startup = appspec.StartupTries(d, ready.Period)
	}
	if startup > 0 {
		c.StartupProbe = &corev1.Probe{ProbeHandler: handler, PeriodSeconds: ready.Period, TimeoutSeconds: ready.Timeout, FailureThreshold: startup, SuccessThreshold: 1}
		c.LivenessProbe.InitialDelaySeconds = 0
	}
}

// env is the spec's env in name order (stable output), plus the JVM options
// for java unless the spec sets its own.
func (r *renderer) env() []corev1.EnvVar {
	env := plainEnv(r.s.Env)
	if _, set := r.s.Env[envJavaToolOptions]; r.s.Type == appspec.TypeJava && !set {
		env = append(env, corev1.EnvVar{Name: envJavaToolOptions, Value: javaOptions})
	}
	return referencedFirst(append(env, secretEnv(r.s.SecretEnv)...))
}

// secretEnv is a container's Secret env (the app's, a sidecar's) in name
// order, each from its Secret's key.
func secretEnv(refs map[string]appspec.SecretKey) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(refs)) {
		out = append(out, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: refs[k].Secret}, Key: refs[k].Key,
		}}})
	}
	return out
}

// plainEnv is env in name order (stable output).
func plainEnv(env map[string]string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, corev1.EnvVar{Name: k, Value: env[k]})
	}
	return out
}

// referencedFirst moves each variable after those its value refers to
// ($(DB_PASSWORD) in DB_URL): the kubelet expands a reference only to a
// variable listed before it, and a map has no order of its own (an
// app-developer audit: a DSN built from a secretEnv password stayed
// literal). An order that already serves every reference is kept as it
// is, so specs without references render as before; a cycle, which
// validation refuses, is left in place.
func referencedFirst(env []corev1.EnvVar) []corev1.EnvVar {
	index := map[string]bool{}
	for _, e := range env {
		index[e.Name] = true
	}
	deps := map[string][]string{}
	for _, e := range env {
		for _, ref := range appspec.EnvRefs(e.Value) {
			if index[ref] && ref != e.Name {
				deps[e.Name] = append(deps[e.Name], ref)
			}
		}
	}
	if len(deps) == 0 {
		return env
	}
	out := make([]corev1.EnvVar, 0, len(env))
	done := map[string]bool{}
	for len(out) < len(env) {
		next := -1
		for i, e := range env {
			ready := !done[e.Name]
			for _, d := range deps[e.Name] {
				ready = ready && done[d]
			}
			if ready {
				next = i
				break
			}
		}
		if next < 0 { // a cycle: the rest as it was
			for _, e := range env {
				if !done[e.Name] {
					out = append(out, e)
				}
			}
			break
		}
		out = append(out, env[next])
		done[env[next].Name] = true
	}
	return out
}

// envFrom loads the listed Secrets and ConfigMaps, in the spec's order (a
// later one wins a key both have).
func (r *renderer) envFrom() []corev1.EnvFromSource {
	var out []corev1.EnvFromSource
	for _, e := range r.s.EnvFrom {
		src := corev1.EnvFromSource{Prefix: e.Prefix}
		if e.Secret != "" {
			src.SecretRef = &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: e.Secret}}
		} else {
			src.ConfigMapRef = &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: e.ConfigMap}}
		}
		out = append(out, src)
	}
	return out
}

// resources: limits equal requests (Guaranteed QoS, predictable latency);
// the webhook may lower the CPU request per node pool (overcommit).
func (r *renderer) resources() corev1.ResourceRequirements {
	cpu, mem := resource.MustParse(r.s.CPU), resource.MustParse(r.s.Memory)
	req := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem},
	}
	if r.s.GPUMem != "" {
		req.Limits[contract.ResourceGPUMem] = resource.MustParse(r.s.GPUMem)
	}
	if r.s.AsksGPU() {
		// gpus alone: whole cards, which the webhook's pool sizes (gpuCardMemory).
		req.Limits[contract.ResourceGPU] = *resource.NewQuantity(int64(r.s.Cards()), resource.DecimalSI)
	}
	return req
}

func (r *renderer) mounts() []corev1.VolumeMount {
	var m []corev1.VolumeMount
	if len(r.s.ConfigFiles) > 0 {
		m = append(m, corev1.VolumeMount{Name: configVolume, MountPath: r.s.ConfigDir, ReadOnly: true})
	}
	if r.s.PVC != nil {
		m = append(m, corev1.VolumeMount{Name: dataVolume, MountPath: r.s.PVC.MountPath})
	}
	for i, f := range r.s.SecretFiles {
		m = append(m, corev1.VolumeMount{Name: secretVolume(i), MountPath: f.MountPath, ReadOnly: true})
	}
	for i, sc := range r.s.Scratch {
		m = append(m, corev1.VolumeMount{Name: ScratchVolumePrefix + strconv.Itoa(i), MountPath: sc.MountPath})
	}
	return m
}

// ScratchVolumePrefix and the index in spec.scratch name a scratch
// directory's emptyDir, which the kubelet's eviction message names.
const ScratchVolumePrefix = "scratch-"

// secretVolume names the volume of the i-th of spec.secretFiles.
func secretVolume(i int) string { return secretVolumePrefix + strconv.Itoa(i) }

func (r *renderer) volumes() []corev1.Volume {
	var v []corev1.Volume
	if len(r.s.ConfigFiles) > 0 {
		v = append(v, corev1.Volume{Name: configVolume, VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(r.app.Name, r.s.ConfigFiles)}},
		}})
	}
	if r.s.PVC != nil {
		v = append(v, corev1.Volume{Name: dataVolume, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: PVCName(r.app.Name)},
		}})
	}
	for i, f := range r.s.SecretFiles {
		v = append(v, corev1.Volume{Name: secretVolume(i), VolumeSource: corev1.VolumeSource{Secret: secretSource(f)}})
	}
	for i, sc := range r.s.Scratch {
		src := &corev1.EmptyDirVolumeSource{}
		if sc.Memory {
			src.Medium = corev1.StorageMediumMemory
		}
		if sc.Size != "" {
			q := resource.MustParse(sc.Size)
			src.SizeLimit = &q
		}
		v = append(v, corev1.Volume{Name: ScratchVolumePrefix + strconv.Itoa(i), VolumeSource: corev1.VolumeSource{EmptyDir: src}})
	}
	return append(v, r.sidecarVolumes()...)
}

// secretSource mounts Secret f's keys (all of them, or those listed), each
// a file of its name.
func secretSource(f appspec.SecretFile) *corev1.SecretVolumeSource {
	src := &corev1.SecretVolumeSource{SecretName: f.Secret}
	for _, k := range f.Keys {
		src.Items = append(src.Items, corev1.KeyToPath{Key: k, Path: k})
	}
	return src
}
