package contract

import corev1 "k8s.io/api/core/v1"

// Prefix starts every label, annotation and resource name zz owns.
const Prefix = "zz.io/"

// WebhookRefusalPrefix starts the message of every pod the zz webhook
// refuses. Its refusals follow from the pod's spec and the policy alone (a
// pool that does not exist or is reserved, more GPU memory than any card
// has), so kubectl zz deploy stops waiting at the first one instead of
// retrying until --timeout.
const WebhookRefusalPrefix = "zz-webhook: "

// AnnotationCheckProbe marks the pod kubectl zz check creates as a
// server-side dry run to see the webhook answer through the apiserver; the
// webhook answers a dry run carrying it with a warning that starts with
// WebhookProbeAnswer, which is all it changes (nothing is stored).
const (
	AnnotationCheckProbe = Prefix + "check-probe"
	WebhookProbeAnswer   = "zz-webhook answered kubectl zz check's probe"
	// WebhookRaisesToLimitRanges is in the probe's answer of a webhook that
	// raises overcommitted CPU requests to the namespace's LimitRange: check
	// judges a LimitRange that bounds the overcommit by it (an older webhook
	// leaves the LimitRanger to refuse those pods).
	WebhookRaisesToLimitRanges = "raises CPU requests to LimitRanges"
	// WebhookLimitRangesUnread is in its place in the answer of a webhook
	// that would, but cannot read the LimitRanges (its ClusterRole lacks
	// the rule), followed by why.
	WebhookLimitRangesUnread = "cannot read LimitRanges"
)

// WebhookPath is where the zz webhook serves pod reviews (the
// MutatingWebhookConfiguration's service path): an apiserver error that
// names it is the webhook not answering.
const WebhookPath = "/mutate-pods"

// Extended resources.
const (
	// ResourceGPUMem is GPU memory per card, in bytes; scheduler-only.
	ResourceGPUMem corev1.ResourceName = Prefix + "gpu-mem"
	// ResourceGPU is the number of shared cards; advertised by the device plugin
	// as slots (several slots per card).
	ResourceGPU corev1.ResourceName = Prefix + "gpu"
	// ResourceGPUMemTotal is a container's GPU memory over all its cards,
	// in bytes: ResourceGPUMem × ResourceGPU. Scheduler-only like
	// ResourceGPUMem; it exists so that a ResourceQuota on
	// "requests.zz.io/gpu-mem-total" bounds what a namespace holds exactly.
	// The webhook and kubectl zz deploy set it, and an admission policy
	// refuses a GPU pod created without it or with another value.
	ResourceGPUMemTotal corev1.ResourceName = Prefix + "gpu-mem-total"
)

// SchedulerName is the scheduler profile that calls the zz extender.
const SchedulerName = "zz-scheduler"

// The servers' names: their Deployments' and DaemonSet's (and containers'
// and app.kubernetes.io/name labels' in manifests/), the event source and
// field manager each writes as, and the user agent it calls with.
const (
	ComponentExtender     = "zz-extender"
	ComponentWebhook      = "zz-webhook"
	ComponentDevicePlugin = "zz-device-plugin"
)

// EphemeralVoidPolicy names the MutatingAdmissionPolicy of
// manifests/policies (and its binding) that gives each ephemeral container
// kubectl debug adds NVIDIA_VISIBLE_DEVICES=void, in the apiserver, with no
// webhook: the ValidatingAdmissionPolicy zz-ephemeral-containers refuses one
// without it. kubectl zz check says when it is missing or unbound.
const EphemeralVoidPolicy = "zz-ephemeral-void"

// CertgenName is the CronJob (and Job) of the self-signed overlay that
// writes and renews the webhook's CA bundle and serving certificate.
const CertgenName = "zz-webhook-certgen"

// Pod annotations written by the extender's bind and the device plugin.
const (
	// AnnotationGPUIndexes lists the chosen cards' indexes, comma-separated ("0,3").
	AnnotationGPUIndexes = Prefix + "gpu-indexes"
	// AnnotationGPUUUIDs lists the chosen cards' UUIDs, in the order of AnnotationGPUIndexes.
	AnnotationGPUUUIDs = Prefix + "gpu-uuids"
	// AnnotationGPUMemMiB is the memory reserved on each chosen card, in MiB.
	AnnotationGPUMemMiB = Prefix + "gpu-mem-mib"
	// AnnotationGPUAssumeTime is when the extender bound the pod, Unix nanoseconds;
	// the device plugin serves the oldest first and the extender expires stale ones.
	AnnotationGPUAssumeTime = Prefix + "gpu-assume-time"
	// AnnotationGPUAssumeNode is the node the chosen cards are on, written with
	// the choice: a pod not bound yet is charged to that node after a
	// restart, never to whichever node's inventory lists the UUIDs (a
	// forged inventory may list another node's). Pods chosen by an older
	// extender lack it.
	AnnotationGPUAssumeNode = Prefix + "gpu-assume-node"
	// AnnotationGPUAssigned is "false" after bind and "true" once Allocate served it.
	AnnotationGPUAssigned = Prefix + "gpu-assigned"
	// AnnotationGPUPolicy overrides the cluster's placement policy for one pod.
	AnnotationGPUPolicy = Prefix + "gpu-policy"
	// AnnotationGPUNUMABind, "true" on a pod, requires all its cards on one
	// NUMA node (HAMi's nvidia.com/numa-bind); "false" or absent prefers it
	// only where the packing allows.
	AnnotationGPUNUMABind = Prefix + "gpu-numa-bind"
	// AnnotationGPUModel on a pod admits only cards whose model names one of
	// its comma-separated parts, in any case ("A100,H100"; HAMi's
	// nvidia.com/use-gputype); AnnotationGPUModelAvoid refuses cards whose
	// model names one of its parts ("T4"; nvidia.com/nouse-gputype).
	AnnotationGPUModel      = Prefix + "gpu-model"
	AnnotationGPUModelAvoid = Prefix + "gpu-model-avoid"
	// AnnotationGPUCard on a pod admits only the cards whose UUID is one of
	// its comma-separated values, in any case (as nvidia-smi -L and kubectl
	// zz gpu show them; HAMi's nvidia.com/use-gpuuuid), and
	// AnnotationGPUCardAvoid refuses those cards (nvidia.com/nouse-gpuuuid):
	// a card an admin suspects, or the one card a debugging pod must be on.
	AnnotationGPUCard      = Prefix + "gpu-card"
	AnnotationGPUCardAvoid = Prefix + "gpu-card-avoid"
	// AnnotationGPUWhole, "true" on a pod, asks for whole cards of any size
	// up to its ResourceGPUMem (HAMi's nvidia.com/gpumem-percentage: 100;
	// nvidia.com/gpu on cards of mixed sizes): each card is one no other
	// pod holds, all of one size, and the pod holds all of its memory
	// (AnnotationGPUMemMiB is the card's memory, at most what it asks for,
	// so a quota charged what it asks for is never short).
	AnnotationGPUWhole = Prefix + "gpu-whole"
)

// GPU placement policies, values of AnnotationGPUPolicy.
const (
	PolicyBinpack = "binpack"
	PolicyBestFit = "bestfit"
	PolicySpread  = "spread"
)

// AnnotationContainerGPU is set by the device plugin's Allocate on the
// container (a CRI annotation, not a pod one): "<namespace>/<pod>/<MiB>", so
// the runtime's view of a container names the pod and memory it was given.
const AnnotationContainerGPU = Prefix + "gpu-container"

// AnnotationGPUMemUsed is the GPU memory a pod's processes use, per card,
// as the device plugin of the pod's node measures it (NVML processes mapped
// to the pod by cgroup): "<uuid>=<MiB>[,<uuid>=<MiB>...]", cards sorted by
// UUID ("GPU-8a1c…=9000"). Only that device plugin writes it, rate-limited
// (see the package doc); kubectl zz gpu reads it.
const AnnotationGPUMemUsed = Prefix + "gpu-mem-used"

// AnnotationGPUNomination on a GPU pod the extender preempts for records,
// once the victims are evicted, the node the memory is freed on and since
// when, as JSON ({"node":"gpu-3","since":"2026-12-05T07:00:00Z"}): another
// replica of the extender, or the same one after a restart, restores the
// nomination from it, so the memory the victims free stays the pod's (as
// kube-scheduler keeps status.nominatedNodeName). Reserved to the extender.
const AnnotationGPUNomination = Prefix + "gpu-nomination"

// AnnotationNodeGPUInventory holds a node's cards as NodeGPUInventory JSON,
// written by the device plugin.
const AnnotationNodeGPUInventory = Prefix + "gpu-inventory"

// AnnotationNodeGPUCordon on a node lists, comma-separated, the UUIDs of
// cards an admin took out of scheduling (kubectl zz gpu cordon): the
// extender places no new pod on them, as kubectl cordon does for a node,
// while the pods already there keep their memory.
const AnnotationNodeGPUCordon = Prefix + "gpu-cordon"

// Env set in containers.
const (
	// EnvVisibleDevices selects the cards the NVIDIA container runtime exposes.
	EnvVisibleDevices = "NVIDIA_VISIBLE_DEVICES"
	// EnvGPUMemLimitMiB is the GPU memory per card the app must stay within.
	EnvGPUMemLimitMiB = "ZZ_GPU_MEM_LIMIT_MIB"
	// EnvMPSPinnedMemLimit and EnvMPSThreadPercentage make an MPS server enforce
	// the limit (device plugin MPS mode).
	EnvMPSPinnedMemLimit   = "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"
	EnvMPSThreadPercentage = "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"
	// EnvXLAMemFraction and EnvTFAllowGrowth are the ML frameworks' own
	// memory knobs, set to a share of a card: JAX preallocates 75% of the
	// card and TensorFlow all of it unless told otherwise.
	EnvXLAMemFraction = "XLA_PYTHON_CLIENT_MEM_FRACTION"
	EnvTFAllowGrowth  = "TF_FORCE_GPU_ALLOW_GROWTH"
	// EnvNumCPUs is the container's CPU limit rounded up, injected by the webhook.
	EnvNumCPUs = "NUM_CPUS"
	// VisibleDevicesVoid is EnvVisibleDevices' value when the device plugin
	// hands the cards over through CDI only: the NVIDIA runtime then exposes
	// nothing itself (as runc would), even for images that set "all".
	VisibleDevicesVoid = "void"
	// VisibleDevicesNone exposes no card but the driver's libraries.
	VisibleDevicesNone = "none"
	// NVIDIAResourcePrefix names the resources of NVIDIA's device plugins,
	// which set EnvVisibleDevices themselves.
	NVIDIAResourcePrefix = "nvidia.com/"
)

// CDI (Container Device Interface) names the device plugin hands the runtime
// under --device-list-strategy cdi-cri or cdi-annotations; the runtime turns
// them into device nodes and mounts from the node's CDI spec
// (nvidia-ctk cdi generate).
const (
	// CDIKind is an NVIDIA card's CDI kind: a card is the CDI device
	// "<CDIKind>=<card UUID>".
	CDIKind = "nvidia.com/gpu"
	// CDIAnnotationPrefix starts the container annotations that ask the
	// runtime for CDI devices: "<prefix><plugin>_<id>" = "<device>,<device>".
	CDIAnnotationPrefix = "cdi.k8s.io/"
)

// Labels that tie objects to an app (kubectl zz deploy, logs, rollback; webhook).
const (
	LabelApp      = Prefix + "app"
	LabelVersion  = Prefix + "version"
	LabelRevision = Prefix + "revision"
	LabelGroup    = Prefix + "group"
	LabelPool     = Prefix + "pool"

	// Kubernetes' recommended labels, set beside ours for other tools.
	LabelK8sName      = "app.kubernetes.io/name"
	LabelK8sVersion   = "app.kubernetes.io/version"
	LabelK8sManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelK8sManagedBy and the server-side apply field manager.
	ManagedBy = "kubectl-zz"
	// LabelK8sPartOf is PartOf on every object of zz's own install
	// (manifests/, the Helm chart): kubectl zz version finds the components by it.
	LabelK8sPartOf = "app.kubernetes.io/part-of"
	PartOf         = "zz"
	// SystemNamespace is where manifests/ installs zz's components, but the
	// device plugin.
	SystemNamespace = "zz-system"
	// DevicePluginNamespace is the device plugin's own namespace (its pods
	// are privileged, which zz-system's pod security refuses).
	DevicePluginNamespace = "zz-device-plugin"
)

// InstallNamespaces are the namespaces zz's own workloads run in (manifests/
// and the Helm chart put them there): kubectl zz check and version judge
// zz's components there and nowhere else, since any namespace's edit user
// may label a Deployment LabelK8sPartOf=PartOf (a hostile-tenant audit
// failed an admin's check with one, and had it read the webhook policy from
// the tenant's ConfigMap).
func InstallNamespaces() []string { return []string{SystemNamespace, DevicePluginNamespace} }

// App rendering and revision records (kubectl zz deploy, history, rollback).
const (
	// LabelType on every rendered object and pod template is the app type
	// (java, web, rpc, worker); the webhook's policy selects pods by it (the
	// JVM flags go to zz.io/type=java).
	LabelType = Prefix + "type"
	// LabelTrack tells the stable Deployment of an app from its canary
	// (kubectl zz deploy --canary), on the Deployments and their pods.
	LabelTrack  = Prefix + "track"
	TrackStable = "stable"
	TrackCanary = "canary"
	// CanarySuffix names an app's canary Deployment: <app>-canary.
	CanarySuffix = "-canary"
	// FieldManagerHandover is the server-side apply field manager that keeps
	// a Deployment's replicas when an HPA takes them over, so the apply
	// that stops setting them does not reset them to 1.
	FieldManagerHandover = "kubectl-zz-handover"
	// SecretTypeRevision is the type of the Secret that records one revision
	// of a whole rendered app; it carries LabelApp and LabelRevision.
	SecretTypeRevision = Prefix + "app-revision"
	// AnnotationImage, AnnotationDeployedBy and AnnotationDeployedAt (RFC 3339)
	// describe a revision record.
	AnnotationImage      = Prefix + "image"
	AnnotationDeployedBy = Prefix + "deployed-by"
	AnnotationDeployedAt = Prefix + "deployed-at"
	// AnnotationChangeCause is Kubernetes' own change-cause annotation, set on
	// revision records.
	AnnotationChangeCause = "kubernetes.io/change-cause"
	// AnnotationRestartedAt on a pod template rolls its pods (kubectl zz
	// restart); kubectl rollout restart sets the same one.
	AnnotationRestartedAt = "kubectl.kubernetes.io/restartedAt"
	// AnnotationApplyID on a Deployment is a random token kubectl zz writes
	// with every apply of it, one per command: a command waiting for its
	// rollout that reads another token knows another command applied the
	// Deployment meanwhile, and stops without recording (or rolling back)
	// what is no longer its rollout.
	AnnotationApplyID = Prefix + "apply-id"
	// AnnotationObjects on a revision record lists the objects the revision
	// applied, "Kind/name" comma-separated, so status reads which are gone
	// without reading the record's data.
	AnnotationObjects = Prefix + "objects"
	// AnnotationRecordFormat on a revision record is the format it was
	// written in, an integer (deploy.RecordFormat); a record without it is
	// format 1. A kubectl zz that reads a lower format refuses to record or
	// apply from the record, where it would apply it wrongly or re-record
	// it without what it does not know.
	AnnotationRecordFormat = Prefix + "record-format"
	// AnnotationRecordedBy on a revision record is the kubectl-zz that
	// wrote it, as kubectl zz version prints it ("kubectl-zz v1.4.0"): what
	// a refusal tells the reader to upgrade to.
	AnnotationRecordedBy = Prefix + "recorded-by"
	// AnnotationDeploymentRevision is the Deployment controller's rollout
	// counter on Deployments and ReplicaSets.
	AnnotationDeploymentRevision = "deployment.kubernetes.io/revision"
)

// Webhook opt-in and per-pod switches.
const (
	// LabelInjection on a namespace opts it in to the webhook ("enabled").
	LabelInjection = Prefix + "injection"
	// AnnotationInjectDisable lists webhook features switched off for one pod.
	AnnotationInjectDisable = Prefix + "inject-disable"
	// AnnotationDebug strips probes so a failing app can be inspected in place.
	AnnotationDebug = Prefix + "debug"
	// AnnotationSchedulerFallback on a pod names the scheduler the webhook
	// policy routes it to, which could not schedule when the pod was made
	// (its leader-election Lease lapsed), so the webhook left the pod to the
	// default scheduler: the pod runs unbalanced. kubectl zz deploy and
	// status say so. Informational only: nothing places or trusts by it.
	AnnotationSchedulerFallback = Prefix + "scheduler-fallback"
	// InjectionEnabled is the value of LabelInjection that opts a namespace in.
	InjectionEnabled = "enabled"
	// LabelPodSecurityEnforce is Kubernetes' Pod Security admission label
	// on a namespace: the level (privileged, baseline, restricted) whose
	// pods it admits. Not zz's to set: zz's trust model needs tenant
	// namespaces at baseline at least (kubectl zz check warns where not),
	// and the webhook leaves out what their level refuses (lxcfs's
	// hostPath volumes under baseline and restricted).
	LabelPodSecurityEnforce = "pod-security.kubernetes.io/enforce"
	// PolicyKey is the key of the webhook's policy in its ConfigMap's data.
	PolicyKey = "policy.yaml"
	// PolicyConfigMap is the name of the webhook's policy ConfigMap, in its
	// namespace, unless its --policy-configmap names another.
	PolicyConfigMap = "zz-webhook-policy"
	// SchedulerConfigMap, in SystemNamespace, holds (under
	// SchedulerConfigKey) the KubeSchedulerConfiguration a zz-scheduler
	// running outside the cluster runs with (hack/demo.sh publishes it):
	// kubectl zz check probes the extenders it names. In the cluster the
	// zz-scheduler Deployment mounts its own (kustomize adds a hash to the
	// name), and check reads that one through the Deployment.
	SchedulerConfigMap = "zz-scheduler-config"
	SchedulerConfigKey = "zz-scheduler-config.yaml"
)

// Webhook features, the values AnnotationInjectDisable lists (comma-separated;
// FeatureAll switches every optional feature off). GPU routing and the pool's
// node selector are not optional: the policy decides them, not the pod.
const (
	FeatureEnv        = "env"
	FeatureSidecars   = "sidecars"
	FeatureOvercommit = "overcommit"
	FeatureHygiene    = "hygiene"
	FeatureLxcfs      = "lxcfs"
	// FeatureScheduler keeps the pod's schedulerName when the policy would
	// route it (a pod cannot otherwise ask for the default scheduler: the
	// apiserver writes that name before the webhook sees the pod).
	FeatureScheduler = "scheduler"
	FeatureAll       = "all"
)

// Env the webhook injects (besides EnvNumCPUs); a value the user set is never overwritten.
const (
	// EnvAppGroup is the pod's LabelGroup.
	EnvAppGroup = "ZZ_APP_GROUP"
	// EnvClusterName and EnvEnvironment are the policy's cluster and environment names.
	EnvClusterName = "ZZ_CLUSTER"
	EnvEnvironment = "ZZ_ENV"
	// EnvJavaOptions carries -XX:ActiveProcessorCount for containers the policy
	// marks as Java; the java launcher reads it (JDK 9+) in addition to
	// JAVA_TOOL_OPTIONS, so the user's JAVA_TOOL_OPTIONS stays theirs.
	EnvJavaOptions = "JDK_JAVA_OPTIONS"
)

// VolumeLxcfsPrefix starts the names of the lxcfs volumes the webhook adds.
const VolumeLxcfsPrefix = "zz-lxcfs-"

// Test-cluster node labels.
const (
	// LabelGPUNode marks nodes that run the device plugin.
	LabelGPUNode = Prefix + "gpu-node"
)

// Event reasons other components and users key on.
const (
	// ReasonGPUMemoryOverRequest is the Warning event the device plugin puts on
	// a pod whose processes use more GPU memory than it requested.
	ReasonGPUMemoryOverRequest = "GPUMemoryOverRequest"
	// ReasonGPUMemoryOverRequestKilled is the Warning event the device plugin
	// (--over-request=kill) puts on a pod when it kills one of its processes
	// for using more GPU memory on a card than the pod requested.
	ReasonGPUMemoryOverRequestKilled = "GPUMemoryOverRequestKilled"
	// The extender's GPU preemption: on the preemptor when it starts, when a
	// budget refuses it (nothing evicted), when budgets leave it no plan at
	// all (blocked) and when it stops midway; on each victim
	// kube-scheduler's own reason, so tools that look for it see it.
	ReasonPreempting        = "Preempting"
	ReasonPreemptionRefused = "PreemptionRefused"
	ReasonPreemptionBlocked = "PreemptionBlocked"
	ReasonPreemptionFailed  = "PreemptionFailed"
	ReasonPreempted         = "Preempted"
)

// What kubectl zz prints with -o json, yaml, name, jsonpath or go-template:
// objects of these kinds under OutputAPIVersion (no apiserver serves them;
// scripts read them), several in a v1 List.
const (
	OutputAPIVersion   = "zz.io/v1"
	OutputKindApp      = "App"
	OutputKindRevision = "Revision"
	OutputKindGPUNode  = "GPUNode"
	// OutputKindGPUPod and OutputKindGPUApp are kubectl zz gpu --pods' rows:
	// one pod's requested vs used memory per card, and one app's sums.
	OutputKindGPUPod = "GPUPod"
	OutputKindGPUApp = "GPUApp"
	// OutputKindGPUShape is one row of kubectl zz gpu --shapes: a request
	// shape, and the room the nodes have for it.
	OutputKindGPUShape = "GPUShape"
	// OutputKindGPUFit is one row of kubectl zz gpu --fit: whether one
	// node takes a pod of a request now, on which cards, or why not.
	OutputKindGPUFit  = "GPUFit"
	OutputKindVersion = "Version"
	// OutputKindAppEvent is one event of kubectl zz events.
	OutputKindAppEvent = "AppEvent"
	// OutputKindCheck is one result of kubectl zz check.
	OutputKindCheck = "Check"
	// OutputKindRebalanceMove is one move of kubectl zz rebalance.
	OutputKindRebalanceMove = "RebalanceMove"
)

// The pod condition the extender sets on a GPU pod it had refused when GPU
// memory the pod fits is freed on a node it was refused on: writing it is
// what makes kube-scheduler retry the pod at once (an update of the pod)
// instead of after its periodic flush, when its own retry on the event that
// freed the memory reached the extender before the extender's informer had
// the event. Tools may key on it; the reason says what happened.
const (
	ConditionGPUMemoryFreed corev1.PodConditionType = Prefix + "GPUMemoryFreed"
	ReasonGPUMemoryFreed                            = "MemoryFreed"
)
