// Package contract holds every name that two zz components agree on: resource
// names, label and annotation keys, env names, the scheduler name, and the node
// GPU inventory format. No other package spells these strings; they import them
// from here, so a rename is one edit and a typo is a compile error.
//
// # GPU sharing protocol
//
// Resources, both set in a container's limits:
//
//   - ResourceGPUMem ("zz.io/gpu-mem") is GPU memory per card, a byte quantity
//     written like "memory" ("4Gi", "3000Mi"). It is scheduler-only: no node
//     advertises it, the zz-scheduler profile lists it in the extender's
//     managedResources with ignoredByScheduler: true, and the kubelet drops
//     extended resources its node does not advertise before its fit check.
//     ResourceQuota on it still works at admission.
//   - ResourceGPU ("zz.io/gpu") is the number of cards the container shares
//     (default 1). It is the device-plugin resource: every card is advertised as
//     N shared slots, so the kubelet calls Allocate for the pod and caps how
//     many pods share one card. The webhook adds "zz.io/gpu: 1" when a pod gives
//     only ResourceGPUMem, and routes such pods to SchedulerName. Never
//     without ResourceGPUMem: cards are assigned by memory, so such a
//     container could be handed none. On a pool whose webhook policy sets
//     gpuCardMemory the webhook gives it whole cards (ResourceGPUMem set to
//     that, and AnnotationGPUWhole); elsewhere the webhook and the policy zz-gpu-mem-total refuse it
//     at creation.
//   - ResourceGPUMemTotal ("zz.io/gpu-mem-total") is ResourceGPUMem ×
//     ResourceGPU, the container's GPU memory over all its cards: what a
//     ResourceQuota must count to bound a namespace's GPU memory (one on
//     ResourceGPUMem counts memory per card). Scheduler-only, like
//     ResourceGPUMem; the webhook and kubectl zz deploy set it, and the
//     policy zz-gpu-mem-total refuses a GPU pod created without it or with
//     another value, so no pod escapes the quota.
//
// The flow:
//
//  1. The device plugin writes the node's cards (UUID, model, MiB, health
//     and why a card is down) as JSON in AnnotationNodeGPUInventory (see
//     NodeGPUInventory), so the extender needs no NVML, and writes it again
//     within seconds of a card's health changing: the extender places no pod
//     on an unhealthy card and Allocate refuses one.
//  2. The extender is the source of truth for card choice. Its bind writes
//     AnnotationGPUIndexes, AnnotationGPUUUIDs, AnnotationGPUMemMiB,
//     AnnotationGPUAssumeTime, AnnotationGPUAssumeNode (the node it binds the pod
//     to) and AnnotationGPUAssigned="false" on the pod
//     before it creates the Binding, so any component rebuilds its state from
//     pods alone after a restart. A pod may choose the placement policy with
//     AnnotationGPUPolicy (PolicyBinpack, PolicyBestFit or PolicySpread), and
//     require all its cards on one NUMA node (GPU.NUMANode, published in the
//     inventory) with AnnotationGPUNUMABind="true", and admit or refuse card
//     models with AnnotationGPUModel and AnnotationGPUModelAvoid, and ask
//     for whole cards of any size up to its memory with
//     AnnotationGPUWhole="true" (AnnotationGPUMemMiB is then the cards'
//     own memory, at most ResourceGPUMem). When it
//     preempts lower-priority pods for a pod, it records the node and time
//     on that pod in AnnotationGPUNomination once the victims are evicted,
//     so another replica, or itself after a restart, keeps the memory they
//     free for it.
//  3. The device plugin's Allocate matches the kubelet's request to one pod:
//     Pending on the same node and asking for ResourceGPU,
//     AnnotationGPUAssigned="false", same number of cards, the first to
//     reach the node (the kubelet admits pods in that order; binds finish out
//     of assume order), then the oldest created, then the oldest
//     AnnotationGPUAssumeTime; ambiguity is an error, never a guess. It
//     sets AnnotationGPUAssigned="true" and returns EnvVisibleDevices=<uuids>
//     and EnvGPUMemLimitMiB, the memory the app must stay within. With CDI
//     (the plugin's --device-list-strategy) the cards go to the runtime as
//     CDI devices "<CDIKind>=<uuid>" instead, and EnvVisibleDevices is
//     VisibleDevicesVoid; EnvGPUMemLimitMiB stays.
//  4. The device plugin samples NVML's running processes on each card, maps
//     them to pods by cgroup, and publishes what each pod of its node uses in
//     AnnotationGPUMemUsed: "<uuid>=<MiB>" per card, comma-separated, sorted
//     by UUID, every card the pod was assigned included (0 when it has no
//     process there) and any card it runs on unassigned. It writes one merge
//     patch touching that annotation alone, and only when the value changed:
//     at once the first time, then no more than once per minimum interval
//     per pod (--usage-annotation-interval), and only when a card moved by at
//     least 64 MiB, went over or back under its request, or the value has
//     been stale for 10 minutes. Finished pods keep their last value; a pod
//     that no longer uses any card loses the annotation. kubectl zz gpu shows
//     it against the request.
//
// Nobody trusts the assignment annotations further than they agree with the
// pod: an assignment counts and is served only when the pod asks for
// ResourceGPUMem, it names as many cards as the pod's ResourceGPU, holds
// exactly the pod's ResourceGPUMem per card, names cards of the pod's node, and
// its assume time is not in the future. Cards are charged by UUID. A
// terminating pod holds its cards until it is gone or terminal.
//
// Nor does anyone trust a node's inventory further than the node itself: a
// card UUID two nodes list (NVML's UUIDs are unique, so one is forged or
// cloned) takes no new pod on either until one stops listing it, a pod not
// yet bound is charged to the node its AnnotationGPUAssumeNode names (never
// to a node guessed from its UUIDs), and a pod's AnnotationGPUMemUsed counts
// only on cards of its own node.
//
// internal/gpushare implements this protocol for every component; none
// restates it.
//
// # Apps
//
// kubectl zz deploy labels every object it renders with LabelApp,
// LabelVersion and LabelRevision (plus the app.kubernetes.io labels), and the
// logs and rollback commands find an app's objects by those labels.
package contract
