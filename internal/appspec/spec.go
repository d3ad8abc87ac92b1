// Package appspec is the app spec file of kubectl zz deploy (zz.yaml): the
// few fields a developer writes instead of Kubernetes YAML. It decodes the file
// strictly (unknown or duplicate fields are errors), fills defaults and
// validates, naming the file, the field and the fix in every error. It does no
// I/O beyond the bytes it is given.
package appspec

import (
	"strings"
	"time"

	"github.com/zzcloud/zz/internal/contract"
)

// APIVersion and Kind head every spec file.
const (
	APIVersion = contract.OutputAPIVersion
	Kind       = "App"
)

// DefaultFile is the spec file kubectl zz deploy reads when -f is not given.
const DefaultFile = "zz.yaml"

// Type is the app's stack; it chooses probes, Service and JVM settings.
type Type string

// The app types.
const (
	// TypeWeb serves HTTP: readiness is GET HealthPath == 200.
	TypeWeb Type = "web"
	// TypeJava is TypeWeb on a JVM: same probes with a startup probe for slow
	// starts, heap sized from the memory limit, exit on OutOfMemoryError.
	TypeJava Type = "java"
	// TypeRPC serves a binary protocol: readiness is a TCP connect to Port.
	TypeRPC Type = "rpc"
	// TypeWorker serves nothing: no Service, no probes on a port.
	TypeWorker Type = "worker"
)

// Types lists the valid types, for errors and completion.
var Types = []Type{TypeJava, TypeWeb, TypeRPC, TypeWorker}

// Health checks of an rpc app.
const (
	HealthCheckTCP  = "tcp"
	HealthCheckGRPC = "grpc"
)

// Anti-affinity modes across hosts.
const (
	AntiAffinityPreferred = "preferred"
	AntiAffinityRequired  = "required"
)

// Zone spread modes (spec.zoneSpread): a topology spread constraint on
// topology.kubernetes.io/zone, maxSkew 1. Left out, nothing is rendered.
const (
	// ZoneSpreadPreferred is whenUnsatisfiable ScheduleAnyway: a score,
	// so every replica runs on a cluster whose zones cannot hold it evenly.
	ZoneSpreadPreferred = "preferred"
	// ZoneSpreadRequired is whenUnsatisfiable DoNotSchedule: a pod that
	// would put a zone two ahead of another waits Pending.
	ZoneSpreadRequired = "required"
)

// ZoneSpreads lists the zone spread modes, for errors and completion.
var ZoneSpreads = []string{ZoneSpreadPreferred, ZoneSpreadRequired}

// Defaults filled by Default.
const (
	DefaultReplicas   int32 = 2
	DefaultCPU              = "500m"
	DefaultMemory           = "512Mi"
	DefaultPort       int32 = 8080
	DefaultHealthPath       = "/health"
	DefaultConfigDir        = "/etc/zz"
	// DrainSeconds is the preStop sleep of a serving app: endpoints
	// controllers and proxies stop sending traffic before it gets SIGTERM.
	DrainSeconds            = 10
	DefaultCPUPercent int32 = 80
)

// App is the content of a spec file.
type App struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Spec       Spec   `json:"spec"`
}

// Spec describes one app. Empty fields get the defaults above.
type Spec struct {
	Type    Type   `json:"type"`
	Image   string `json:"image"`
	Version string `json:"version,omitempty"`
	// Replicas is ignored when HPA is set: the autoscaler owns the count.
	Replicas   *int32 `json:"replicas,omitempty"`
	CPU        string `json:"cpu,omitempty"`
	Memory     string `json:"memory,omitempty"`
	Port       int32  `json:"port,omitempty"`
	HealthPath string `json:"healthPath,omitempty"`
	// HealthCheck is how an rpc app's health is probed: tcp (a connect to
	// Port, the default) or grpc (the gRPC health protocol on Port, as the
	// kubelet speaks it natively).
	HealthCheck string `json:"healthCheck,omitempty"`
	// HealthCommand is the app's own health check: a program and its
	// arguments run in the app container (an exec probe, healthy when it
	// exits 0) for readiness, liveness and startup, on any type, with the
	// timings of the check it replaces (healthPath, healthCheck; none with
	// it). A worker gets its only readiness from it. No shell runs it:
	// [sh, -c, "..."] for one.
	HealthCommand []string `json:"healthCommand,omitempty"`
	Group         string   `json:"group,omitempty"`
	// Pool is the node pool (node label zz.io/pool) the pods run in.
	Pool string            `json:"pool,omitempty"`
	Env  map[string]string `json:"env,omitempty"`
	// ConfigFiles are file name -> content, rendered to a ConfigMap mounted
	// read-only at ConfigDir.
	ConfigFiles map[string]string `json:"configFiles,omitempty"`
	ConfigDir   string            `json:"configDir,omitempty"`
	// GPUMem is GPU memory per card, a byte quantity (zz.io/gpu-mem).
	GPUMem string `json:"gpuMem,omitempty"`
	// AntiAffinity spreads pods across hosts: preferred (default) or required.
	AntiAffinity string `json:"antiAffinity,omitempty"`
	// ZoneSpread spreads pods evenly over zones (topology.kubernetes.io/zone):
	// preferred, required, or empty for no constraint (kube-scheduler's
	// default soft spread only).
	ZoneSpread string `json:"zoneSpread,omitempty"`
	// PDB adds a PodDisruptionBudget allowing one pod down at a time.
	PDB     bool     `json:"pdb,omitempty"`
	Ingress *Ingress `json:"ingress,omitempty"`
	// Service sets how the app's Service is reached from outside the
	// cluster (default: ClusterIP, inside only).
	Service *Service `json:"service,omitempty"`
	HPA     *HPA     `json:"hpa,omitempty"`
	PVC     *PVC     `json:"pvc,omitempty"`

	// Command and Args replace the image's entrypoint and its arguments.
	Command []string `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
	// InitCommand runs in each pod before the app starts (database
	// migrations, a cache warm-up), with the app's image, env, files and
	// CPU and memory: the pod starts only once it exits 0.
	InitCommand []string `json:"initCommand,omitempty"`
	// Labels and Annotations go on every object and the pod template; keys
	// under zz.io/ and the app.kubernetes.io/ keys zz sets are refused.
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// EnvFrom loads every key of Secrets and ConfigMaps as env.
	EnvFrom []EnvFrom `json:"envFrom,omitempty"`
	// SecretEnv are env entries read from one key of a Secret.
	SecretEnv map[string]SecretKey `json:"secretEnv,omitempty"`
	// ImagePullSecrets name the Secrets that log in to private registries.
	ImagePullSecrets []string `json:"imagePullSecrets,omitempty"`
	// SecretFiles mount Secrets read-only as files (certificates, keys,
	// credentials files), one file per key.
	SecretFiles []SecretFile `json:"secretFiles,omitempty"`
	// Scratch are writable directories of the pod's own (emptyDir), empty
	// when the pod starts: what an image writes beside a read-only root
	// (/tmp, caches), and a larger /dev/shm.
	Scratch []Scratch `json:"scratch,omitempty"`
	// Sidecars run beside the app in each pod as Kubernetes native
	// sidecars: they start before initCommand and the app, stay up for the
	// pod's life and stop after the app (a database proxy, a log shipper).
	Sidecars []Sidecar `json:"sidecars,omitempty"`
	// Ports are extra named container ports (metrics, admin); the Service
	// exposes them too.
	Ports []Port `json:"ports,omitempty"`
	// GPUs is how many cards each pod shares (zz.io/gpu), 1 when left out
	// with gpuMem. A pointer, so that gpus: 0 (refused) is told from unset;
	// revision records written when it was a number load alike.
	GPUs *int32 `json:"gpus,omitempty"`
	// GPUNUMABind keeps all of a pod's cards on one NUMA node, or the pod
	// waits (zz.io/gpu-numa-bind).
	GPUNUMABind bool `json:"gpuNumaBind,omitempty"`
	// GPUWhole asks for whole cards of any size up to gpuMem, each the
	// pod's own (zz.io/gpu-whole), as nvidia.com/gpu gives on mixed cards.
	GPUWhole bool `json:"gpuWhole,omitempty"`
	// GPUModels admits only cards whose model names one of these, in any
	// case ([A100, H100]; zz.io/gpu-model), AvoidGPUModels refuses cards
	// whose model names one of these ([T4]; zz.io/gpu-model-avoid).
	GPUModels      []string `json:"gpuModels,omitempty"`
	AvoidGPUModels []string `json:"avoidGpuModels,omitempty"`
	// PriorityClassName is the pods' PriorityClass (spec.priorityClassName of
	// the pod template): GPU preemption evicts lower-priority pods for it.
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// TerminationGracePeriod is how long a stopping pod gets before
	// SIGKILL, a duration ("45s"); default 30s, 60s for java.
	TerminationGracePeriod string `json:"terminationGracePeriod,omitempty"`
	// PreStop is a command run before SIGTERM instead of the 10 s drain sleep.
	PreStop []string `json:"preStop,omitempty"`
	// StartupTimeout is how long a serving app may take to start (a
	// duration, "5m") before liveness counts: a startup probe on the
	// readiness check. Default none (java: 3m), so liveness may restart an
	// app that is not up within about a minute.
	StartupTimeout string `json:"startupTimeout,omitempty"`
	// HealthTimeout is how long one probe may take before it counts as
	// failed (a duration, "5s", 1s to 60s), for readiness, liveness and
	// startup alike: a health endpoint slow under load otherwise flaps out
	// of the Service and is then killed. Default 2 s for readiness and
	// startup, 3 s for liveness.
	HealthTimeout string `json:"healthTimeout,omitempty"`
	// Rollout is how a new version replaces the pods: surge (default:
	// the new pods start beside the old ones, which serve until they are
	// ready) or replace (an old pod goes first: no room for an extra pod is
	// needed, which a GPU app on packed cards lacks).
	Rollout string `json:"rollout,omitempty"`
	// MinReadySeconds is how long a new pod must stay ready before it
	// counts as available (the Deployment's minReadySeconds, 0 to
	// MaxMinReadySeconds): the rollout goes on, and a deploy succeeds and
	// records its revision, only once each new pod has; one that crashes
	// within it fails the rollout like any crash. Default 0: ready is
	// available.
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// ServiceAccount is the pods' ServiceAccount (its token, cloud
	// workload identity); default the namespace's default.
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// SecurityContext is who the app's process runs as; none by default.
	SecurityContext *SecurityContext `json:"securityContext,omitempty"`
}

// SecurityContext is the pod's user, group and filesystem settings, and
// with Restricted what the Pod Security "restricted" level requires.
type SecurityContext struct {
	RunAsUser              *int64 `json:"runAsUser,omitempty"`
	RunAsGroup             *int64 `json:"runAsGroup,omitempty"`
	FSGroup                *int64 `json:"fsGroup,omitempty"`
	RunAsNonRoot           bool   `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem bool   `json:"readOnlyRootFilesystem,omitempty"`
	// Restricted adds runAsNonRoot, no privilege escalation, every
	// capability dropped and the runtime's default seccomp profile.
	Restricted bool `json:"restricted,omitempty"`
}

// EnvFrom is one Secret or ConfigMap whose keys become env; exactly one of
// Secret and ConfigMap is set.
type EnvFrom struct {
	Secret    string `json:"secret,omitempty"`
	ConfigMap string `json:"configMap,omitempty"`
	// Prefix is put before every key.
	Prefix string `json:"prefix,omitempty"`
}

// SecretKey is one key of a Secret.
type SecretKey struct {
	Secret string `json:"secret"`
	Key    string `json:"key"`
}

// Port is an extra named port.
type Port struct {
	Name string `json:"name"`
	Port int32  `json:"port"`
	// Protocol is TCP (default) or UDP.
	Protocol string `json:"protocol,omitempty"`
	// Front, on one sidecar's TCP port only, sends the app's traffic to it
	// instead of to spec.port: the Service's main port targets it and the
	// Ingress follows (an auth proxy in front of the app).
	Front bool `json:"front,omitempty"`
}

// Ingress exposes a web app on a host name.
type Ingress struct {
	Host      string `json:"host"`
	Path      string `json:"path,omitempty"`
	ClassName string `json:"className,omitempty"`
	// TLSSecret serves Host over HTTPS with the certificate in this Secret
	// (cert-manager's ingress-shim issues it when Annotations ask).
	TLSSecret string `json:"tlsSecret,omitempty"`
	// Annotations go on the Ingress alone (an ingress controller's
	// settings, a certificate issuer): spec.annotations would roll the pods.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Service is the app's Service beyond its ports: its type, the cloud load
// balancer's annotations and who may reach it.
type Service struct {
	// Type is ClusterIP (default), NodePort or LoadBalancer.
	Type string `json:"type,omitempty"`
	// Port is the Service's port for spec.port (default spec.port): a
	// load balancer on 80 in front of a container on 8080, as charts'
	// service.port; the extra ports keep their numbers.
	Port int32 `json:"port,omitempty"`
	// Annotations go on the Service alone (a cloud load balancer's
	// settings): spec.annotations would roll the pods.
	Annotations map[string]string `json:"annotations,omitempty"`
	// ExternalTrafficPolicy is Cluster (default) or Local: Local keeps the
	// client's source address and sends traffic only to nodes running a pod.
	ExternalTrafficPolicy string `json:"externalTrafficPolicy,omitempty"`
	// LoadBalancerSourceRanges are the CIDRs a LoadBalancer admits.
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges,omitempty"`
}

// Rollouts (spec.rollout).
const (
	RolloutSurge   = "surge"
	RolloutReplace = "replace"
)

// Service types and external traffic policies, as Kubernetes spells them.
const (
	ServiceClusterIP    = "ClusterIP"
	ServiceNodePort     = "NodePort"
	ServiceLoadBalancer = "LoadBalancer"
	TrafficCluster      = "Cluster"
	TrafficLocal        = "Local"
)

// HPA scales the app on CPU use between Min and Max replicas.
type HPA struct {
	Min        int32 `json:"min"`
	Max        int32 `json:"max"`
	CPUPercent int32 `json:"cpuPercent,omitempty"`
}

// SecretFile mounts Secret read-only at MountPath: every key a file named
// as the key, or only Keys when given (a key the Secret lacks keeps the pods
// from starting, as the kubelet does for any Secret volume item).
type SecretFile struct {
	Secret    string   `json:"secret"`
	MountPath string   `json:"mountPath"`
	Keys      []string `json:"keys,omitempty"`
}

// Scratch is an emptyDir mounted read-write at MountPath. Size is its
// sizeLimit, a byte quantity (the kubelet evicts a pod whose directory
// outgrows it); Memory makes it a tmpfs (medium Memory), whose files count
// against the container's memory limit, so it needs a Size within
// spec.memory.
type Scratch struct {
	MountPath string `json:"mountPath"`
	Size      string `json:"size,omitempty"`
	Memory    bool   `json:"memory,omitempty"`
}

// Sidecar is a container of the app's own beside the app container. It
// gets none of the app's env, files or GPU: only its own env, Secret env
// and Secret files, and the app's mounts it lists in Mounts (by their
// mount paths), at the same paths.
type Sidecar struct {
	Name    string            `json:"name"`
	Image   string            `json:"image"`
	Command []string          `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// SecretEnv are env entries read from one key of a Secret, in this
	// sidecar alone (an auth proxy's client secret, a shipper's API key),
	// as spec.secretEnv are in the app's container.
	SecretEnv map[string]SecretKey `json:"secretEnv,omitempty"`
	// CPU and Memory are its requests and limits (equal, as the app's).
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	// Ports are the container ports it listens on, named; not on the
	// Service, but for the one marked front, which takes the app's traffic.
	Ports []Port `json:"ports,omitempty"`
	// Mounts are mount paths of the app's (spec.scratch, spec.secretFiles,
	// spec.configDir, spec.pvc) that the sidecar shares.
	Mounts []string `json:"mounts,omitempty"`
	// SecretFiles are Secrets mounted read-only as files in this sidecar
	// alone (a proxy's key the app never sees), as spec.secretFiles are in
	// the app's container.
	SecretFiles []SecretFile `json:"secretFiles,omitempty"`
	// Startup holds spec.initCommand and the app until the sidecar answers
	// (a startup probe: the kubelet starts the next init container, then
	// the app, only once it succeeds), so a migration can go through a
	// database proxy; none by default: the next starts once its process has.
	Startup *SidecarStartup `json:"startup,omitempty"`
}

// SidecarStartup is what a sidecar answers once it is up: a TCP connect to
// Port (the name of one of its ports), or an HTTP GET of Path on it that
// answers 2xx or 3xx (cloud-sql-proxy's /startup with --health-check).
type SidecarStartup struct {
	Port string `json:"port"`
	Path string `json:"path,omitempty"`
}

// DefaultSidecarStartupTimeout is how long a sidecar's startup may take
// when spec.startupTimeout is not set: cloud-sql-proxy's own manifest
// allows a minute.
const DefaultSidecarStartupTimeout = time.Minute

// A sidecar's CPU and memory when the spec leaves them out: a proxy or a
// log shipper's size.
const (
	DefaultSidecarCPU    = "100m"
	DefaultSidecarMemory = "128Mi"
)

// PVC is a volume claimed for the app and mounted at MountPath. One claim is
// shared by every pod: more than one pod needs AccessModeMany.
type PVC struct {
	Size         string `json:"size"`
	MountPath    string `json:"mountPath"`
	StorageClass string `json:"storageClass,omitempty"`
	// AccessMode is ReadWriteOnce (default) or ReadWriteMany.
	AccessMode string `json:"accessMode,omitempty"`
}

// PVC access modes.
const (
	AccessModeOnce = "ReadWriteOnce"
	AccessModeMany = "ReadWriteMany"
)

// Default fills empty fields. It never overrides what the file says.
func (a *App) Default() {
	if a.APIVersion == "" {
		a.APIVersion = APIVersion
	}
	if a.Kind == "" {
		a.Kind = Kind
	}
	s := &a.Spec
	if s.Version == "" {
		s.Version = ImageTag(s.Image)
	}
	if s.Replicas == nil {
		r := DefaultReplicas
		s.Replicas = &r
	}
	if s.CPU == "" {
		s.CPU = DefaultCPU
	}
	if s.Memory == "" {
		s.Memory = DefaultMemory
	}
	if s.Port == 0 && s.Type != TypeWorker {
		s.Port = DefaultPort
	}
	if s.HealthPath == "" && (s.Type == TypeWeb || s.Type == TypeJava) && s.HealthCommand == nil {
		s.HealthPath = DefaultHealthPath
	}
	if s.ConfigDir == "" && len(s.ConfigFiles) > 0 {
		s.ConfigDir = DefaultConfigDir
	}
	if s.AntiAffinity == "" {
		s.AntiAffinity = AntiAffinityPreferred
	}
	if s.Ingress != nil && s.Ingress.Path == "" {
		s.Ingress.Path = "/"
	}
	if s.PVC != nil && s.PVC.AccessMode == "" {
		s.PVC.AccessMode = AccessModeOnce
	}
	if s.HPA != nil && s.HPA.CPUPercent == 0 {
		s.HPA.CPUPercent = DefaultCPUPercent
	}
	if s.GPUs == nil && s.GPUMem != "" {
		one := int32(1)
		s.GPUs = &one
	}
	defaultProtocols(s.Ports)
	for i := range s.Sidecars {
		sc := &s.Sidecars[i]
		if sc.CPU == "" {
			sc.CPU = DefaultSidecarCPU
		}
		if sc.Memory == "" {
			sc.Memory = DefaultSidecarMemory
		}
		defaultProtocols(sc.Ports)
	}
}

func defaultProtocols(ports []Port) {
	for i := range ports {
		if ports[i].Protocol == "" {
			ports[i].Protocol = "TCP"
		}
	}
}

// MinReady is spec.minReadySeconds as a duration: how long a new pod
// must stay ready before it counts as available.
func (s *Spec) MinReady() time.Duration {
	return time.Duration(s.MinReadySeconds) * time.Second
}

// Cards is how many cards each pod asks for: spec.gpus, 0 when unset.
func (s *Spec) Cards() int32 {
	if s.GPUs == nil {
		return 0
	}
	return *s.GPUs
}

// AsksGPU says the app asks for GPU cards: memory on them (gpuMem), or
// whole cards alone (gpus, on a pool whose webhook policy sizes them).
func (s *Spec) AsksGPU() bool {
	return s.GPUMem != "" || s.Cards() > 0
}

// ImageTag returns the tag of an image reference ("1.2" of "reg:5000/a:1.2"),
// or "" when it has none or is pinned by digest only.
func ImageTag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	return image[i+1:]
}
