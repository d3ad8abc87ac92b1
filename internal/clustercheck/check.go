// Package clustercheck tells a cluster admin whether zz is installed and
// working, as linkerd check and cilium status do for theirs: its components
// ready, the webhook's certificate and endpoints, every admission policy of
// the GPU protocol bound (unbound, the Trust model's guarantees are gone),
// the GPU nodes' inventories and cards, the namespaces opted in. Gather reads
// the cluster; Evaluate, pure, turns what it read into results.
package clustercheck

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/deploy"
	"github.com/zzcloud/zz/internal/gpuinspect"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/internal/inject"
	"github.com/zzcloud/zz/internal/prose"
)

// Status of one check.
type Status string

// The statuses, worst last.
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is one check: what was checked, how it stands, and what to do.
type Result struct {
	Group  string `json:"group"`
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`

	unread bool // the part could not be read (unreadable)
}

// The groups, in the order they print.
const (
	GroupComponents = "zz components"
	GroupScheduler  = "scheduler configuration"
	GroupWebhook    = "webhook"
	GroupPolicies   = "admission policies"
	GroupGPUNodes   = "GPU nodes"
	GroupNamespaces = "namespaces"
)

// CertWarnBefore is how long before its end a webhook certificate is
// called out: certgen's CronJob renews it well before (its README).
const CertWarnBefore = 14 * 24 * time.Hour

// State is what Gather read. An Err is why that part could not be read
// (often Forbidden: the check is an admin's).
type State struct {
	Deployments     []appsv1.Deployment
	DaemonSets      []appsv1.DaemonSet
	WorkloadsErr    error
	Webhooks        []admissionregistrationv1.MutatingWebhookConfiguration
	WebhooksErr     error
	Endpoints       map[string]int // ready endpoints by "namespace/service"
	EndpointsErrors map[string]error
	Policies        []admissionregistrationv1.ValidatingAdmissionPolicy
	Bindings        []admissionregistrationv1.ValidatingAdmissionPolicyBinding
	PoliciesErr     error
	// MutatingPolicies are zz's MutatingAdmissionPolicies, MutatingBindings
	// every binding of one (contract.EphemeralVoidPolicy's among them).
	MutatingPolicies    []admissionregistrationv1.MutatingAdmissionPolicy
	MutatingBindings    []admissionregistrationv1.MutatingAdmissionPolicyBinding
	MutatingPoliciesErr error

	GPUNodes []corev1.Node
	NodesErr error
	// HostnameClashes are the kubernetes.io/hostname values several nodes
	// carry (HostnameClashes).
	HostnameClashes []string
	HostnamesErr    error
	OptedIn         []string // namespaces labelled contract.LabelInjection=enabled
	NamespacesErr   error
	// PodSecurity is every namespace's Pod Security enforce label
	// (contract.LabelPodSecurityEnforce; "" unset), GPUPodNamespaces the
	// namespaces of the pods the ledger charges.
	PodSecurity      map[string]string
	GPUPodNamespaces []string
	// PodSecurityDefault is the level the webhook policy says the
	// apiserver enforces where the label is unset (podSecurityDefault),
	// PodSecurityProbe the apiserver's answer that tests it (nil: not
	// asked).
	PodSecurityDefault string
	PodSecurityProbe   *PodSecurityProbe
	// SchedulerConfigs are the KubeSchedulerConfiguration files zz's
	// Deployments run kube-scheduler with (--config, from a ConfigMap), by
	// "namespace/deployment"; an error is why one could not be read.
	SchedulerConfigs      map[string][]byte
	SchedulerConfigErrors map[string]error
	// SchedulerLease is zz-scheduler's leader-election Lease (nil: none).
	SchedulerLease    *coordinationv1.Lease
	SchedulerLeaseErr error
	// RoutedPending are pods naming zz-scheduler on no node (at most
	// maxRoutedPending; RoutedMore says there were more).
	RoutedPending    []corev1.Pod
	RoutedMore       bool
	RoutedPendingErr error
	// WholeCardPools are the webhook policy's pools with gpuCardMemory, read
	// from the ConfigMap the zz webhook Deployment names (PolicySource);
	// PolicyErr is why it could not be read.
	WholeCardPools []inject.WholeCardPool
	// OverAllocated are the cards that hold more memory than they have, as
	// the extender's ledger counts the pods on them
	// (gpuinspect.OverAllocated); LedgerErr is why they could not be
	// counted.
	OverAllocated []string
	LedgerErr     error
	// OnMissingCards are the pods holding memory on a card their node no
	// longer lists (gpuinspect.Snapshot.OnMissingCards).
	OnMissingCards []string
	// DuplicateCards are the card UUIDs several nodes list, with the nodes
	// (gpuinspect.Snapshot.Duplicates).
	DuplicateCards []string
	// GPUDefaultPool is where the policy places GPU pods that name no pool
	// (inject.Policy.GPUDefaultPool; nil: nowhere).
	GPUDefaultPool *inject.DefaultPool
	PolicySource   string
	PolicyErr      error
	PolicyInvalid  error
	// OtherSchedulers are the schedulers the policy routes pods to besides
	// zz-scheduler and the default one (inject.Policy.OtherSchedulers),
	// with the pods on no node that name each (at most maxRoutedPending).
	OtherSchedulers map[string]OtherScheduler
	// NetworkPolicies are those of each namespace a zz webhook Deployment
	// runs in, by namespace (webhookIsolation).
	NetworkPolicies    map[string][]networkingv1.NetworkPolicy
	NetworkPoliciesErr error
	// UnknownPoolWorkloads are Deployments and StatefulSets whose pod
	// template selects a pool (zz.io/pool, as kubectl zz deploy renders
	// spec.pool) the policy lacks: the webhook refuses their next pods.
	UnknownPoolWorkloads []string
	// NodeSettablePools are the policy's pools reserved to namespaces that
	// a node may join by labelling itself (inject.Policy.NodeSettablePools).
	NodeSettablePools []string
	// NodeRestriction says whether the apiserver runs the NodeRestriction
	// admission plugin (probeNodeRestriction), as GPU node ProbeNode;
	// NodeRestrictionErr is why it could not be told (nil and no node: not
	// probed).
	NodeRestriction    bool
	NodeRestrictionErr error
	ProbeNode          string
	// ServingCerts are the certificates the webhook Services' pods serve,
	// by "namespace/service" (servingCert).
	ServingCerts map[string]ServingCert
	// WebhookProbe is how the apiserver answered a dry-run pod in an
	// opted-in namespace (Probes.Webhook; nil: not probed).
	WebhookProbe *WebhookProbe
	// OvercommitPools are the policy's pools with a CPU ratio below 1
	// (inject.Policy.OvercommitPools), LimitRanges every LimitRange, read
	// only where there is such a pool (limitRangeConflicts).
	OvercommitPools []inject.PoolRatio
	LimitRanges     []corev1.LimitRange
	LimitRangesErr  error
	// Extenders are the extenders of a zz-scheduler running outside the
	// cluster, probed (probeExtenders; nil where a zz-scheduler Deployment
	// runs: its pods' readiness says it); ExtendersErr is why they are not
	// known.
	Extenders    []ExtenderProbe
	ExtendersErr error
}

// AsNode is a client acting as node (impersonated: user system:node:NAME in
// group system:nodes), for the NodeRestriction probe.
type AsNode func(node string) (kubernetes.Interface, error)

// ProbeWebhook creates pod in namespace ns as a server-side dry run (the
// apiserver runs admission, webhooks included, and stores nothing) and
// returns the warnings the apiserver sent with its answer.
type ProbeWebhook func(ctx context.Context, ns string, pod *corev1.Pod) (warnings []string, err error)

// Probes are what Gather may do besides reading, each skipped when nil.
type Probes struct {
	// AsNode: whether NodeRestriction runs, asked as a GPU node.
	AsNode AsNode
	// Webhook: whether the apiserver reaches the zz webhook, by a dry-run
	// pod in an opted-in namespace. Only this sees a webhook that runs
	// outside the cluster at a URL, or whose Service has endpoints the
	// apiserver cannot reach or whose certificate it does not trust.
	Webhook ProbeWebhook
	// Extender: whether the extenders of a zz-scheduler running outside
	// the cluster answer, at the URLs its published configuration names
	// (a dead balance extender is otherwise seen nowhere: it is ignorable).
	Extender ProbeExtender
	// PodSecurity: whether the apiserver refuses a privileged pod (a dry
	// run) in an unlabelled namespace the webhook policy's
	// podSecurityDefault says is baseline or restricted, which no API
	// shows otherwise (podSecurity).
	PodSecurity ProbeWebhook
}

// PodSecurityProbe is how the apiserver answered a privileged dry-run pod
// in Namespace: Admitted, or refused by Pod Security (Refused), or neither
// (Err: another refusal, no right to create pods: not known).
type PodSecurityProbe struct {
	Namespace         string
	Admitted, Refused bool
	Err               error
}

// WebhookProbe is how the apiserver answered the probe pod.
type WebhookProbe struct {
	Namespace string
	// Answer is the zz webhook's warning (contract.WebhookProbeAnswer...),
	// "" when no zz webhook answered.
	Answer string
	Err    error
}

// ProbePod is the pod kubectl zz check creates as a dry run: one container
// that asks for little and runs as restricted Pod Security demands, so that
// nothing but the webhooks has a reason to refuse it.
func ProbePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "zz-check-probe-", Annotations: map[string]string{contract.AnnotationCheckProbe: "true"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65535),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "probe", Image: "registry.k8s.io/pause:3.10",
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
		},
	}
}

// Gather reads what Evaluate judges: zz's objects by their
// app.kubernetes.io/part-of=zz label, the GPU nodes by contract.LabelGPUNode;
// and runs the probes it is given.
func Gather(ctx context.Context, c kubernetes.Interface, probes Probes) *State {
	s := &State{Endpoints: map[string]int{}, EndpointsErrors: map[string]error{}, ServingCerts: map[string]ServingCert{}}
	part := metav1.ListOptions{LabelSelector: contract.LabelK8sPartOf + "=" + contract.PartOf}
	if deps, dss, err := zzWorkloads(ctx, c, part); err != nil {
		s.WorkloadsErr = err
	} else {
		s.Deployments, s.DaemonSets = deps, dss
		s.SchedulerConfigs, s.SchedulerConfigErrors = schedulerConfigs(ctx, c, deps)
		gatherNetworkPolicies(ctx, c, s)
	}
	if ns, name, ok := policySource(s.Deployments); ok {
		s.PolicySource = ns + "/" + name
		if cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			s.PolicyErr = err
		} else if p, err := inject.FromConfigMapData(cm.Data); err != nil {
			s.PolicyInvalid = err
		} else {
			s.WholeCardPools = p.WholeCardPools()
			s.PodSecurityDefault = p.PodSecurityDefault()
			if d, ok := p.GPUDefaultPool(); ok {
				s.GPUDefaultPool = &d
			}
			s.NodeSettablePools = p.NodeSettablePools()
			s.OvercommitPools = p.OvercommitPools()
			s.UnknownPoolWorkloads = unknownPoolWorkloads(ctx, c, p.PoolNames())
			s.OtherSchedulers = map[string]OtherScheduler{}
			for name, fields := range p.OtherSchedulers() {
				o := OtherScheduler{Fields: fields}
				o.Pending, o.More, o.Err = pendingFor(ctx, c, name)
				s.OtherSchedulers[name] = o
			}
		}
	}
	if lease, err := c.CoordinationV1().Leases(contract.SystemNamespace).Get(ctx, contract.SchedulerName, metav1.GetOptions{}); err == nil {
		s.SchedulerLease = lease
	} else if !apierrors.IsNotFound(err) {
		s.SchedulerLeaseErr = err
	}
	s.RoutedPending, s.RoutedMore, s.RoutedPendingErr = pendingFor(ctx, c, contract.SchedulerName)
	if probes.Extender != nil && s.WorkloadsErr == nil && !schedulerInstalled(s) {
		s.Extenders, s.ExtendersErr = probeExtenders(ctx, c, probes.Extender)
	}
	if whs, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{}); err != nil {
		s.WebhooksErr = err
	} else {
		s.Webhooks = slices.DeleteFunc(whs.Items, func(cfg admissionregistrationv1.MutatingWebhookConfiguration) bool { return !zzWebhooks(cfg) })
		for _, cfg := range s.Webhooks {
			for _, wh := range cfg.Webhooks {
				svc := wh.ClientConfig.Service
				if svc == nil {
					continue
				}
				key := svc.Namespace + "/" + svc.Name
				if _, done := s.Endpoints[key]; done {
					continue
				}
				n, err := readyEndpoints(ctx, c, svc.Namespace, svc.Name)
				s.Endpoints[key] = n
				if err != nil {
					s.EndpointsErrors[key] = err
				}
				s.ServingCerts[key] = servingCert(ctx, c, svc.Namespace, svc.Name, s.Deployments)
			}
		}
	}
	if vaps, err := c.AdmissionregistrationV1().ValidatingAdmissionPolicies().List(ctx, part); err != nil {
		s.PoliciesErr = err
	} else if bs, err := c.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().List(ctx, metav1.ListOptions{}); err != nil {
		s.PoliciesErr = err
	} else {
		s.Policies, s.Bindings = vaps.Items, bs.Items
	}
	gatherMutatingPolicies(ctx, c, s, part)
	gatherLimitRanges(ctx, c, s)
	gatherHostnames(ctx, c, s)
	if nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: contract.LabelGPUNode + "=true"}); err != nil {
		s.NodesErr = err
	} else {
		s.GPUNodes = nodes.Items
		if len(nodes.Items) > 0 {
			// The extender's own ledger, rebuilt from nodes and pods as
			// kubectl zz gpu does: no card may hold more than it has.
			if snap, err := gpuinspect.Collect(ctx, c, nil); err != nil {
				s.LedgerErr = err
			} else {
				s.OverAllocated = gpuinspect.OverAllocated(snap.Nodes)
				for _, p := range snap.Pods {
					if !slices.Contains(s.GPUPodNamespaces, p.Namespace) {
						s.GPUPodNamespaces = append(s.GPUPodNamespaces, p.Namespace)
					}
				}
				s.OnMissingCards = snap.OnMissingCards
				s.DuplicateCards = snap.Duplicates
			}
		}
		if probes.AsNode != nil && len(nodes.Items) > 0 {
			s.ProbeNode = nodes.Items[0].Name
			s.NodeRestriction, s.NodeRestrictionErr = probeNodeRestriction(ctx, probes.AsNode, s.ProbeNode)
		}
	}
	// Every namespace: the opted-in ones, and the Pod Security level of
	// those and of the GPU pods' (podSecurity).
	if nss, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
		s.NamespacesErr = err
	} else {
		var active []string // where a pod can be created
		s.PodSecurity = make(map[string]string, len(nss.Items))
		for _, ns := range nss.Items {
			s.PodSecurity[ns.Name] = ns.Labels[contract.LabelPodSecurityEnforce]
			if ns.Labels[contract.LabelInjection] != contract.InjectionEnabled {
				continue
			}
			s.OptedIn = append(s.OptedIn, ns.Name)
			if ns.Status.Phase != corev1.NamespaceTerminating {
				active = append(active, ns.Name)
			}
		}
		if probes.Webhook != nil && len(s.Webhooks) > 0 {
			s.WebhookProbe = probeWebhook(ctx, probes.Webhook, active)
		}
		if probes.PodSecurity != nil {
			s.PodSecurityProbe = probePodSecurity(ctx, probes.PodSecurity, s, active)
		}
	}
	return s
}

// probePodSecurity tests the webhook policy's podSecurityDefault where it
// says baseline or restricted: a privileged pod, as a dry run, in the first
// active namespace that is served or holds GPU pods and has no enforce
// label. Pod Security judges dry runs, before the validating policies and
// webhooks; admitted, the default is privileged whatever the policy says
// (a review: the field alone silenced check's one warning that edit users
// may run privileged pods). nil: nothing to test.
func probePodSecurity(ctx context.Context, probe ProbeWebhook, s *State, active []string) *PodSecurityProbe {
	if s.PodSecurityDefault != "baseline" && s.PodSecurityDefault != "restricted" {
		return nil
	}
	i := slices.IndexFunc(slices.Concat(s.OptedIn, s.GPUPodNamespaces), func(ns string) bool {
		return s.PodSecurity[ns] == "" && ns != metav1.NamespaceSystem && ns != contract.SystemNamespace &&
			(slices.Contains(active, ns) || slices.Contains(s.GPUPodNamespaces, ns))
	})
	if i < 0 {
		return nil
	}
	ns := slices.Concat(s.OptedIn, s.GPUPodNamespaces)[i]
	// A generated name: a pod of a fixed name a tenant made first refused
	// the probe after Pod Security had admitted it, and check took the
	// default as stated (a review).
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "zz-check-pod-security-"},
		Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false),
			// No resources: a LimitRange's defaults fill them, where limits
			// of its own under a LimitRange min were refused by the
			// LimitRanger before Pod Security judged the pod (review 36
			// #2); a quota that demands limits refuses after Pod Security
			// (refusedAfterPodSecurity).
			Containers: []corev1.Container{{Name: "probe", Image: "registry.k8s.io/pause:3.10",
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}},
	}
	p := &PodSecurityProbe{Namespace: ns}
	_, err := probe(ctx, ns, pod)
	switch {
	case err == nil || refusedAfterPodSecurity(err):
		p.Admitted = true
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity"):
		p.Refused = true
	default:
		p.Err = err
	}
	return p
}

// refusedAfterPodSecurity says err is a refusal that only comes once Pod
// Security has admitted the pod: a ResourceQuota's (the last admission
// plugin) or the store's AlreadyExists.
func refusedAfterPodSecurity(err error) bool {
	if apierrors.IsAlreadyExists(err) {
		return true
	}
	msg := err.Error()
	return apierrors.IsForbidden(err) && (strings.Contains(msg, "exceeded quota") || strings.Contains(msg, "failed quota"))
}

// probeWebhook creates ProbePod as a dry run in the first opted-in namespace
// the webhook serves (nil: none is opted in, so no pod reaches it).
func probeWebhook(ctx context.Context, probe ProbeWebhook, optedIn []string) *WebhookProbe {
	i := slices.IndexFunc(optedIn, func(ns string) bool { return ns != metav1.NamespaceSystem && ns != contract.SystemNamespace })
	if i < 0 {
		return nil
	}
	p := &WebhookProbe{Namespace: optedIn[i]}
	var warnings []string
	warnings, p.Err = probe(ctx, p.Namespace, ProbePod())
	if i := slices.IndexFunc(warnings, func(w string) bool { return strings.HasPrefix(w, contract.WebhookProbeAnswer) }); i >= 0 {
		p.Answer = warnings[i]
	}
	return p
}

// nodeRestrictionProbe is a label only the NodeRestriction admission plugin
// forbids a node to set on itself.
const nodeRestrictionProbe = corev1.LabelNamespaceNodeRestriction + "/zz-check"

// probeNodeRestriction asks, as node, to label its own Node in
// node-restriction.kubernetes.io/ (a server-side dry run: nothing changes).
// The Node authorizer lets a node patch its own Node; only NodeRestriction
// refuses that label, so a refusal naming it means the plugin runs. The API
// has no other way to tell an admission plugin's presence.
func probeNodeRestriction(ctx context.Context, asNode AsNode, node string) (bool, error) {
	nc, err := asNode(node)
	if err != nil {
		return false, err
	}
	patch := []byte(`{"metadata":{"labels":{"` + nodeRestrictionProbe + `":"probe"}}}`)
	_, err = nc.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
	switch {
	case err == nil:
		return false, nil
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), corev1.LabelNamespaceNodeRestriction+"/"):
		return true, nil
	default:
		return false, err
	}
}

// nodeRestriction judges the probe: without the plugin a node's credentials
// get a token bound to another node's pod, which names that node, so the
// policies that hold the device plugin to its own node (its inventory, the
// pods it marks served) no longer hold root on one node to it; and a node
// writes the status of any pod, so it can end another node's GPU pod in the
// extender's ledger while its process still uses the card.
func nodeRestriction(s *State) []Result {
	if s.ProbeNode == "" {
		return nil
	}
	name := "NodeRestriction admission plugin"
	switch {
	case s.NodeRestrictionErr != nil && apierrors.IsForbidden(s.NodeRestrictionErr):
		return []Result{{Group: GroupPolicies, Name: name, Status: Warn,
			Detail: "not checked: acting as node " + s.ProbeNode + " was refused: " + s.NodeRestrictionErr.Error(),
			Hint:   "run kubectl zz check with the right to impersonate nodes (cluster-admin has it)"}}
	case s.NodeRestrictionErr != nil:
		return []Result{unreadable(GroupPolicies, name, s.NodeRestrictionErr)}
	case !s.NodeRestriction:
		return []Result{{Group: GroupPolicies, Name: name, Status: Fail,
			Detail: "off: node " + s.ProbeNode + " may label itself " + nodeRestrictionProbe + " (a dry run), so root on one node can get a zz-device-plugin token naming another node, and forge that node's GPU inventory and served pods, or fail other nodes' GPU pods in the extender's ledger",
			Hint:   "start kube-apiserver with --enable-admission-plugins=NodeRestriction (kubeadm and managed clusters run it by default)"}}
	}
	return []Result{{Group: GroupPolicies, Name: name, Status: OK,
		Detail: "on: a node's credentials are held to its own Node and pods"}}
}

// unknownPoolWorkloads lists the Deployments and StatefulSets whose pod
// template selects a pool not in pools ("ns/name (pool gpu)"); what cannot
// be listed is skipped (other checks say what check cannot read).
func unknownPoolWorkloads(ctx context.Context, c kubernetes.Interface, pools []string) []string {
	var out []string
	note := func(kind, ns, name string, sel map[string]string) {
		if v, ok := sel[contract.LabelPool]; ok && !slices.Contains(pools, v) {
			out = append(out, fmt.Sprintf("%s %s/%s (pool %s)", kind, ns, name, v))
		}
	}
	if deps, err := c.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range deps.Items {
			note("Deployment", d.Namespace, d.Name, d.Spec.Template.Spec.NodeSelector)
		}
	}
	if sts, err := c.AppsV1().StatefulSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range sts.Items {
			note("StatefulSet", d.Namespace, d.Name, d.Spec.Template.Spec.NodeSelector)
		}
	}
	return out
}

// unknownPools warns of workloads whose pool the webhook policy lacks
// (removed or renamed while they use it): their running pods stay, but the
// webhook refuses the next ones, so the next scale, rollout or lost node
// leaves them short (an admin audit saw check stay green).
func unknownPools(s *State) []Result {
	if len(s.UnknownPoolWorkloads) == 0 {
		return nil
	}
	who := fmt.Sprintf("%d workloads select", len(s.UnknownPoolWorkloads))
	if len(s.UnknownPoolWorkloads) == 1 {
		who = "1 workload selects"
	}
	return []Result{{Group: GroupPolicies, Name: "pools in use", Status: Warn,
		Detail: fmt.Sprintf("%s a pool the webhook policy %s lacks: the webhook refuses their next pods (a scale, a rollout, a pod lost with its node): %s",
			who, s.PolicySource, listSome(s.UnknownPoolWorkloads)),
		Hint: "put the pool back in the policy, or redeploy those apps with a pool it has (spec.pool)"}}
}

// nodeSettablePools warns of pools reserved to namespaces that root on any
// node can join: their pods, Secrets and tokens would run there.
func nodeSettablePools(s *State) []Result {
	var out []Result
	for _, name := range s.NodeSettablePools {
		out = append(out, Result{Group: GroupPolicies, Name: "pool " + name, Status: Warn,
			Detail: fmt.Sprintf("reserved to namespaces, but selected by labels a node may set on itself: root on any node can label it into the pool and receive its pods (the webhook policy %s)", s.PolicySource),
			Hint: fmt.Sprintf("add a %s/ label to the pool's nodes (only an admin can set it) and to pools.%s.nodeSelector, e.g. %s/zz-pool: %s",
				corev1.LabelNamespaceNodeRestriction, name, corev1.LabelNamespaceNodeRestriction, name)})
	}
	return out
}

// zzWebhooks says cfg is zz's: labelled part-of=zz, or calling the zz
// webhook's path, as a configuration written by hand (or the demo's, whose
// webhook runs outside the cluster at a URL) does without the label.
func zzWebhooks(cfg admissionregistrationv1.MutatingWebhookConfiguration) bool {
	if cfg.Labels[contract.LabelK8sPartOf] == contract.PartOf {
		return true
	}
	return slices.ContainsFunc(cfg.Webhooks, func(wh admissionregistrationv1.MutatingWebhook) bool {
		if svc := wh.ClientConfig.Service; svc != nil {
			return ptr.Deref(svc.Path, "") == contract.WebhookPath
		}
		u, err := url.Parse(ptr.Deref(wh.ClientConfig.URL, ""))
		return err == nil && u.Path == contract.WebhookPath
	})
}

// flagValue is the last value argv gives flag, as --flag=v or --flag v.
func flagValue(argv []string, flag string) (string, bool) {
	v, found := "", false
	for i, a := range argv {
		if rest, ok := strings.CutPrefix(a, flag+"="); ok {
			v, found = rest, true
		} else if a == flag && i+1 < len(argv) {
			v, found = argv[i+1], true
		}
	}
	return v, found
}

// zzWorkloads lists zz's Deployments and DaemonSets: those part selects
// (contract.LabelK8sPartOf=contract.PartOf) in contract.InstallNamespaces. A
// tenant's look-alike elsewhere is not zz's: judged as zz's, it failed the
// check at will, hid a missing install, and named the ConfigMap read as
// the webhook policy and the scheduler configuration judged.
func zzWorkloads(ctx context.Context, c kubernetes.Interface, part metav1.ListOptions) ([]appsv1.Deployment, []appsv1.DaemonSet, error) {
	var deps []appsv1.Deployment
	var dss []appsv1.DaemonSet
	for _, ns := range contract.InstallNamespaces() {
		d, err := c.AppsV1().Deployments(ns).List(ctx, part)
		if err != nil {
			return nil, nil, err
		}
		ds, err := c.AppsV1().DaemonSets(ns).List(ctx, part)
		if err != nil {
			return nil, nil, err
		}
		deps, dss = append(deps, d.Items...), append(dss, ds.Items...)
	}
	return deps, dss, nil
}

// policySource is the webhook policy ConfigMap the zz webhook Deployment
// runs with: its container's --policy-configmap (name in its namespace, or
// namespace/name), else contract.PolicyConfigMap in its namespace.
func policySource(deps []appsv1.Deployment) (ns, name string, ok bool) {
	for _, d := range deps {
		for _, ctr := range d.Spec.Template.Spec.Containers {
			argv := slices.Concat(ctr.Command, ctr.Args)
			v, given := flagValue(argv, "--policy-configmap")
			if !given && !strings.Contains(ctr.Name, "webhook") {
				continue
			}
			if v == "" {
				v = contract.PolicyConfigMap
			}
			if pns, pname, cut := strings.Cut(v, "/"); cut {
				return pns, pname, true
			}
			return d.Namespace, v, true
		}
	}
	return "", "", false
}

// schedulerConfigs reads the file each Deployment's container gives
// kube-scheduler with --config (in its command or its args), from the
// ConfigMap volume mounted above it.
func schedulerConfigs(ctx context.Context, c kubernetes.Interface, deps []appsv1.Deployment) (map[string][]byte, map[string]error) {
	configs, errs := map[string][]byte{}, map[string]error{}
	for _, d := range deps {
		spec := d.Spec.Template.Spec
		for _, ctr := range spec.Containers {
			file, ok := flagValue(slices.Concat(ctr.Command, ctr.Args), "--config")
			if !ok || file == "" {
				continue
			}
			key := d.Namespace + "/" + d.Name
			cm, name := "", ""
			for _, m := range ctr.VolumeMounts {
				if rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/"); ok {
					for _, v := range spec.Volumes {
						if v.Name == m.Name && v.ConfigMap != nil {
							cm, name = v.ConfigMap.Name, rel
						}
					}
				}
			}
			if cm == "" {
				errs[key] = fmt.Errorf("--config=%s is not in a ConfigMap volume", file)
				continue
			}
			got, err := c.CoreV1().ConfigMaps(d.Namespace).Get(ctx, cm, metav1.GetOptions{})
			switch {
			case err != nil:
				errs[key] = err
			case got.Data[name] == "":
				errs[key] = fmt.Errorf("ConfigMap %s/%s has no %s", d.Namespace, cm, name)
			default:
				configs[key] = []byte(got.Data[name])
			}
		}
	}
	return configs, errs
}

// readyEndpoints counts the ready endpoints of a Service's EndpointSlices.
func readyEndpoints(ctx context.Context, c kubernetes.Interface, ns, svc string) (int, error) {
	list, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sl := range list.Items {
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n++
			}
		}
	}
	return n, nil
}

// Evaluate judges s at now.
func Evaluate(s *State, now time.Time) []Result {
	var out []Result
	out = append(out, components(s)...)
	out = append(out, schedulers(s)...)
	out = append(out, schedulerLeader(s, now)...)
	out = append(out, extenders(s)...)
	out = append(out, routedPending(s, now)...)
	out = append(out, otherSchedulers(s, now)...)
	out = append(out, webhooks(s, now)...)
	out = append(out, webhookOnDebug(s)...)
	out = append(out, webhookPolicy(s)...)
	out = append(out, webhookIsolation(s)...)
	out = append(out, policies(s)...)
	out = append(out, ephemeralVoid(s)...)
	out = append(out, nodeRestriction(s)...)
	out = append(out, nodeSettablePools(s)...)
	out = append(out, hostnames(s)...)
	out = append(out, unknownPools(s)...)
	out = append(out, gpuNodes(s)...)
	out = append(out, deviceListStrategy(s)...)
	out = append(out, wholeCardPools(s)...)
	out = append(out, gpuDefaultPool(s)...)
	out = append(out, overAllocated(s)...)
	out = append(out, duplicateCards(s)...)
	out = append(out, namespaces(s)...)
	out = append(out, limitRangeConflicts(s)...)
	out = append(out, podSecurity(s)...)
	return nothingChecked(out)
}

// Worst is the worst status of rs (OK when empty).
func Worst(rs []Result) Status {
	w := OK
	for _, r := range rs {
		if rank(r.Status) > rank(w) {
			w = r.Status
		}
	}
	return w
}

func rank(s Status) int { return slices.Index([]Status{OK, Warn, Fail}, s) }

// unreadable is the result for a part that could not be read: a warning
// where the apiserver refused the user (a role that reads less than an
// admin's: that part is not checked), a failure where it did not answer or
// did not know the user (nothing could be checked, and a gate must not pass).
func unreadable(group, what string, err error) Result {
	r := Result{Group: group, Name: what, Status: Fail, Detail: "cannot read " + what + ": " + err.Error(), unread: true}
	switch {
	case apierrors.IsForbidden(err):
		r.Status, r.Hint = Warn, "kubectl zz check reads zz's cluster-wide objects: run it as a cluster admin"
	case apierrors.IsUnauthorized(err):
		r.Hint = "the apiserver does not accept the credentials: check the kubeconfig's user (kubectl auth whoami)"
	case apierrors.IsNotFound(err):
		r.Hint = "it does not exist: create it, or correct the argument that names it"
		r.unread = false
	default:
		r.Hint = "the apiserver did not answer: check --context and --kubeconfig (kubectl cluster-info)"
	}
	return r
}

// nothingChecked is the failure added when every part was unreadable: a
// check that read nothing must not pass a pipeline's gate.
func nothingChecked(rs []Result) []Result {
	if len(rs) == 0 || slices.ContainsFunc(rs, func(r Result) bool { return !r.unread }) {
		return rs
	}
	return append([]Result{{Group: GroupComponents, Name: "kubectl zz check", Status: Fail,
		Detail: "nothing could be read, so nothing was checked",
		Hint:   "run it as a cluster admin, against the cluster zz runs on (--context)"}}, rs...)
}

func components(s *State) []Result {
	if s.WorkloadsErr != nil {
		return []Result{unreadable(GroupComponents, "zz's Deployments and DaemonSets", s.WorkloadsErr)}
	}
	var out []Result
	for _, d := range s.Deployments {
		out = append(out, deploymentWorkload(d).judge(componentImpact(d.Name)))
	}
	for _, d := range s.DaemonSets {
		out = append(out, daemonSetWorkload(d).judge(componentImpact(d.Name)))
	}
	if len(out) == 0 {
		r := Result{Group: GroupComponents, Name: "install", Status: Fail,
			Detail: "no Deployment or DaemonSet labelled " + contract.LabelK8sPartOf + "=" + contract.PartOf + " in " + strings.Join(contract.InstallNamespaces(), " or "),
			Hint:   "install zz: kubectl apply -k manifests/overlays/default, or helm install zz manifests/helm/zz"}
		if len(s.Webhooks) > 0 || s.SchedulerLease != nil {
			// Servers run outside the cluster (make demo runs them so):
			// what they leave in it is judged below.
			r.Status = Warn
			r.Detail += ", but zz's webhook configuration or zz-scheduler's Lease is there: its servers run outside the cluster, so only those are judged"
		}
		return []Result{r}
	}
	slices.SortFunc(out, func(a, b Result) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// schedulerConfig is what schedulers reads of a KubeSchedulerConfiguration.
type schedulerConfig struct {
	Extenders []schedulerExtender `json:"extenders"`
}

type schedulerExtender struct {
	URLPrefix        string `json:"urlPrefix"`
	FilterVerb       string `json:"filterVerb"`
	PrioritizeVerb   string `json:"prioritizeVerb"`
	BindVerb         string `json:"bindVerb"`
	PreemptVerb      string `json:"preemptVerb"`
	Ignorable        bool   `json:"ignorable"`
	ManagedResources []struct {
		Name               string `json:"name"`
		IgnoredByScheduler bool   `json:"ignoredByScheduler"`
	} `json:"managedResources"`
}

// manages says whether kube-scheduler sends e the pods asking for name: an
// entry that manages no resource is sent every pod.
// ignores reports whether the entry marks name ignoredByScheduler, which
// keeps kube-scheduler's own fit check from counting it.
func (e *schedulerExtender) ignores(name corev1.ResourceName) bool {
	for _, m := range e.ManagedResources {
		if m.Name == string(name) && m.IgnoredByScheduler {
			return true
		}
	}
	return false
}

func (e *schedulerExtender) manages(name corev1.ResourceName) bool {
	for _, m := range e.ManagedResources {
		if m.Name == string(name) {
			return true
		}
	}
	return len(e.ManagedResources) == 0
}

// schedulers judges the configuration zz's kube-scheduler runs with: its
// GPU extender (the one managing zz.io/gpu-mem) must filter, an entry must
// bind the pods it filters (the shipped one binds in an entry of its own,
// for zz.io/gpu, every GPU pod's resource), with zz's scheduler-only
// resources ignored by kube-scheduler's own fit check, and should answer
// kube-scheduler's preemption (an older configuration, applied before the
// preempt verb, lets kube-scheduler evict pods for a GPU pod that cannot run
// where it evicts).
func schedulers(s *State) []Result {
	var out []Result
	hint := "kubectl apply -k manifests/scheduler (or helm upgrade): the shipped zz-scheduler-config.yaml"
	for key, err := range s.SchedulerConfigErrors {
		out = append(out, Result{Group: GroupScheduler, Name: key, Status: Fail,
			Detail: "cannot read its configuration: " + err.Error() + ": its pods cannot start", Hint: hint})
	}
	for key, raw := range s.SchedulerConfigs {
		out = append(out, schedulerResult(key, raw, hint))
	}
	slices.SortFunc(out, func(a, b Result) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func schedulerResult(key string, raw []byte, hint string) Result {
	r := Result{Group: GroupScheduler, Name: key, Status: Fail, Hint: hint}
	var cfg schedulerConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		r.Detail = "cannot read its KubeSchedulerConfiguration: " + err.Error()
		return r
	}
	i := slices.IndexFunc(cfg.Extenders, func(e schedulerExtender) bool {
		return len(e.ManagedResources) > 0 && e.manages(contract.ResourceGPUMem)
	})
	if i < 0 {
		r.Detail = "no extender manages " + string(contract.ResourceGPUMem) + ": GPU pods are placed blind to GPU memory"
		return r
	}
	gpu := &cfg.Extenders[i]
	ignored := map[string]bool{}
	for _, m := range gpu.ManagedResources {
		ignored[m.Name] = m.IgnoredByScheduler
	}
	// kube-scheduler allows one binder; it must be sent the GPU pods.
	var binder *schedulerExtender
	for j := range cfg.Extenders {
		if e := &cfg.Extenders[j]; e.BindVerb != "" && (e == gpu || e.manages(contract.ResourceGPU)) {
			binder = e
		}
	}
	switch {
	case gpu.FilterVerb == "":
		r.Detail = fmt.Sprintf("its GPU extender (the entry managing %s) has no filterVerb: GPU pods are placed blind to GPU memory", contract.ResourceGPUMem)
	case binder == nil:
		r.Detail = fmt.Sprintf("no extender entry binds the pods asking for %s (bindVerb gpu/bind in an entry managing %s): GPU pods never get their cards",
			contract.ResourceGPU, contract.ResourceGPU)
	case binder.ignores(contract.ResourceGPU):
		// Copied from the filter entry's style: the device plugin's slots
		// are then not counted, and the kubelet refuses what was placed.
		r.Detail = fmt.Sprintf("its GPU bind entry marks %s ignoredByScheduler: kube-scheduler then places GPU pods past the device plugin's slots, "+
			"and the kubelet refuses them (OutOf%s); remove ignoredByScheduler from %s", contract.ResourceGPU, contract.ResourceGPU, contract.ResourceGPU)
	case binder.Ignorable:
		r.Detail = "its GPU bind entry is ignorable: a bind the extender fails falls through to the default binder, which binds the GPU pod with no cards chosen"
	case !ignored[string(contract.ResourceGPUMem)] || !ignored[string(contract.ResourceGPUMemTotal)]:
		r.Detail = fmt.Sprintf("%s and %s must be ignoredByScheduler: no node advertises them, so every GPU pod stays Pending",
			contract.ResourceGPUMem, contract.ResourceGPUMemTotal)
	case gpu.PreemptVerb == "":
		r.Status = Warn
		r.Detail = "its GPU extender has no preemptVerb: kube-scheduler's own preemption, blind to GPU memory, may evict pods for a GPU pod that cannot run there"
	case binder == gpu:
		r.Status = Warn
		r.Detail = "its GPU extender binds in the entry that filters, so one httpTimeout serves both: long enough for a bind, it is how long a hung extender holds kube-scheduler's scheduling loop for every GPU pod (the shipped configuration binds in an entry of its own)"
	default:
		r.Status, r.Hint = OK, ""
		r.Detail = fmt.Sprintf("GPU extender: filter and preempt verbs, %s and %s left to it; bind in an entry of its own", contract.ResourceGPUMem, contract.ResourceGPUMemTotal)
	}
	return r
}

// leaseSkew is how far behind the lease's renewals the check's clock may
// be read before a leader counts as gone: the lease's own duration plus
// this, as the webhook's --scheduler-lease-grace.
const leaseSkew = 15 * time.Second

// schedulerLeader judges zz-scheduler's leader-election Lease, where a
// zz-scheduler Deployment is installed: without a leader renewing it, no
// replica schedules (its pods may be Ready while none leads), GPU pods stay
// Pending and the zz webhook leaves other pods to the default scheduler.
func schedulerLeader(s *State, now time.Time) []Result {
	if !schedulerInstalled(s) && s.SchedulerLease == nil {
		return nil
	}
	name := contract.SystemNamespace + "/" + contract.SchedulerName + " leader"
	if s.SchedulerLeaseErr != nil {
		return []Result{unreadable(GroupScheduler, "the Lease "+contract.SystemNamespace+"/"+contract.SchedulerName, s.SchedulerLeaseErr)}
	}
	r := Result{Group: GroupScheduler, Name: name, Status: Fail,
		Hint: fmt.Sprintf("kubectl -n %s logs deployment/%s -c kube-scheduler", contract.SystemNamespace, contract.SchedulerName)}
	const impact = "GPU pods stay Pending, and the zz webhook leaves other pods to the default scheduler, unbalanced"
	l := s.SchedulerLease
	if l == nil {
		r.Detail = fmt.Sprintf("no Lease %s/%s: no replica has ever led; %s", contract.SystemNamespace, contract.SchedulerName, impact)
		return []Result{r}
	}
	holder := ptr.Deref(l.Spec.HolderIdentity, "")
	duration := time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 15)) * time.Second
	var renewed time.Time
	if l.Spec.RenewTime != nil {
		renewed = l.Spec.RenewTime.Time
	}
	switch {
	case renewed.IsZero():
		r.Detail = "its Lease was never renewed; " + impact
	case holder == "" && now.Sub(renewed) > leaseSkew:
		r.Detail = fmt.Sprintf("no leader since %s (released by the last one); %s", renewed.UTC().Format(time.RFC3339), impact)
	case holder != "" && now.Sub(renewed) > duration+leaseSkew:
		r.Detail = fmt.Sprintf("%s last renewed its Lease at %s, %s ago; %s", holder, renewed.UTC().Format(time.RFC3339), now.Sub(renewed).Round(time.Second), impact)
	case holder == "":
		r.Status, r.Hint = OK, ""
		r.Detail = "the last leader released the Lease a moment ago; a standby takes it"
	default:
		r.Status, r.Hint = OK, ""
		r.Detail = fmt.Sprintf("%s leads (Lease renewed %s ago)", holder, now.Sub(renewed).Round(time.Second))
	}
	return []Result{r}
}

// schedulerInstalled reports whether the zz-scheduler Deployment is there.
func schedulerInstalled(s *State) bool {
	return slices.ContainsFunc(s.Deployments, func(d appsv1.Deployment) bool {
		return d.Namespace == contract.SystemNamespace && d.Name == contract.SchedulerName
	})
}

// maxRoutedPending bounds the pods routedPending reads: enough to tell a
// backlog from a stall.
const maxRoutedPending = 500

// OtherScheduler is a scheduler the webhook policy names besides
// zz-scheduler and the default one, and the pods waiting for it.
type OtherScheduler struct {
	Fields  []string // the policy fields that name it
	Pending []corev1.Pod
	More    bool // more pods than maxRoutedPending wait
	Err     error
}

// pendingFor lists the pods on no node that name scheduler (at most
// maxRoutedPending; more says there were more).
func pendingFor(ctx context.Context, c kubernetes.Interface, scheduler string) (pods []corev1.Pod, more bool, err error) {
	sel := fields.AndSelectors(fields.OneTermEqualSelector("spec.schedulerName", scheduler), fields.OneTermEqualSelector("spec.nodeName", ""))
	l, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: sel.String(), Limit: maxRoutedPending})
	if err != nil {
		return nil, false, err
	}
	for _, p := range l.Items {
		if p.Spec.SchedulerName == scheduler && p.Spec.NodeName == "" { // a client that does not filter by fields
			pods = append(pods, p)
		}
	}
	return pods, l.Continue != "", nil
}

// untriedOf names, sorted, the pods no scheduler has judged (deploy.Untried).
func untriedOf(pods []corev1.Pod, now time.Time) []string {
	var out []string
	for i := range pods {
		if deploy.Untried(&pods[i], now) {
			out = append(out, pods[i].Namespace+"/"+pods[i].Name)
		}
	}
	slices.Sort(out)
	return out
}

// waitingDetail says how many pods wait on no node: those a scheduler
// judged (a PodScheduled condition), and those too new to have been (under
// deploy.UntriedAfter): all were said "judged" (an admin audit, with
// zz-scheduler dead).
func waitingDetail(pods []corev1.Pod, untried int, more string) string {
	judged := 0
	for i := range pods {
		if slices.ContainsFunc(pods[i].Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodScheduled }) {
			judged++
		}
	}
	fresh := len(pods) - untried - judged
	switch {
	case fresh <= 0:
		return fmt.Sprintf("%s%s on no node, each judged by it", more, count(judged, "pod"))
	case judged == 0:
		return fmt.Sprintf("%s%s on no node, created in the last %s: not judged yet", more, count(fresh, "pod"), duration.HumanDuration(deploy.UntriedAfter))
	}
	return fmt.Sprintf("%s%s on no node: %d judged by it, %d created in the last %s, not judged yet", more, count(judged+fresh, "pod"), judged, fresh, duration.HumanDuration(deploy.UntriedAfter))
}

// atLeast prefixes a count read from a list cut at maxRoutedPending.
func atLeast(more bool) string {
	if more {
		return "at least "
	}
	return ""
}

// otherSchedulers judges the schedulers the policy names besides zz's and
// the default one: pods waiting untried for one of them mean no scheduler
// of that name runs, most likely a typo in the policy.
func otherSchedulers(s *State, now time.Time) []Result {
	var out []Result
	for _, name := range slices.Sorted(maps.Keys(s.OtherSchedulers)) {
		o := s.OtherSchedulers[name]
		what := fmt.Sprintf("pods routed to %q", name)
		if o.Err != nil {
			out = append(out, unreadable(GroupScheduler, what, o.Err))
			continue
		}
		by := fmt.Sprintf("the webhook policy %s names it (%s)", s.PolicySource, strings.Join(o.Fields, ", "))
		untried, more := untriedOf(o.Pending, now), atLeast(o.More)
		r := Result{Group: GroupScheduler, Name: what, Status: OK}
		switch {
		case len(untried) > 0:
			r.Status = Fail
			r.Detail = fmt.Sprintf("%s%s had no verdict from any scheduler in over %s (%s): no scheduler of that name runs, or its queue is that long; %s",
				more, count(len(untried), "pod"), duration.HumanDuration(deploy.UntriedAfter), listSome(untried), by)
			r.Hint = fmt.Sprintf("if the name is a typo, fix it in ConfigMap %s, then delete those pods a controller owns to have them replaced (a pod's scheduler cannot change)", s.PolicySource)
		case len(o.Pending) > 0:
			r.Detail = waitingDetail(o.Pending, 0, more) + "; " + by
		default:
			r.Detail = "no pod waits for it; " + by
		}
		out = append(out, r)
	}
	return out
}

// routedPending judges the pods waiting for zz-scheduler: a pod it has not
// judged for deploy.UntriedAfter means no zz-scheduler is scheduling (or its
// queue is that long), and such a pod waits for it for good, since a pod's
// scheduler cannot change; pods it found no node for wait for room.
func routedPending(s *State, now time.Time) []Result {
	name := "pods routed to " + contract.SchedulerName
	if s.RoutedPendingErr != nil {
		return []Result{unreadable(GroupScheduler, name, s.RoutedPendingErr)}
	}
	untried := untriedOf(s.RoutedPending, now)
	// A SchedulerError is the extender not answering (transport, 5xx:
	// the install's fault) or a pod the scheduler cannot read (its own:
	// one tenant's typo must not fail the install, an SRE audit).
	var failed, refused []string
	why, podWhy := "", ""
	for i := range s.RoutedPending {
		p := &s.RoutedPending[i]
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonSchedulerError {
				if extenderUnreachable(c.Message) {
					failed, why = append(failed, p.Namespace+"/"+p.Name), c.Message
				} else {
					refused, podWhy = append(refused, p.Namespace+"/"+p.Name), c.Message
				}
			}
		}
	}
	more := atLeast(s.RoutedMore)
	waiting := len(s.RoutedPending) - len(untried)
	if len(untried) > 0 {
		return []Result{{Group: GroupScheduler, Name: name, Status: Warn,
			Detail: fmt.Sprintf("%s%s had no verdict from it in over %s (%s): it is not scheduling, or its queue is that long",
				more, count(len(untried), "pod"), duration.HumanDuration(deploy.UntriedAfter), listSome(untried)),
			Hint: fmt.Sprintf("they wait for %s (a pod's scheduler cannot change); delete those a controller owns to have them replaced, on the default scheduler while the zz webhook sees %s down (GPU pods excepted: only %s gives cards)",
				contract.SchedulerName, contract.SchedulerName, contract.SchedulerName)}}
	}
	var out []Result
	if len(failed) > 0 {
		slices.Sort(failed)
		out = append(out, Result{Group: GroupScheduler, Name: name, Status: Fail,
			Detail: fmt.Sprintf("%s%s failed to schedule with an error (%s): %s", more, count(len(failed), "pod"), listSome(failed), why),
			Hint: fmt.Sprintf("is the zz extender answering? kubectl -n %s logs deployment/%s -c %s",
				contract.SystemNamespace, contract.SchedulerName, contract.ComponentExtender)})
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		out = append(out, Result{Group: GroupScheduler, Name: name, Status: Warn,
			Detail: fmt.Sprintf("%s could not be scheduled for a reason of its own (%s): %s", count(len(refused), "pod"), listSome(refused), podWhy),
			Hint:   "the pod's owner fixes it (kubectl describe pod says the same); the extender answers"})
	}
	if len(out) > 0 {
		return out
	}
	if waiting == 0 && !schedulerInstalled(s) {
		return nil
	}
	r := Result{Group: GroupScheduler, Name: name, Status: OK, Detail: "no pod waits for it"}
	if waiting > 0 {
		r.Detail = waitingDetail(s.RoutedPending, len(untried), more) + " (kubectl zz status says why in its namespace)"
	}
	return []Result{r}
}

// extenderUnreachable reports whether a SchedulerError's message is
// kube-scheduler failing to call an extender (the connection, a timeout,
// an answer other than 200) rather than an answer about the pod. The
// condition holds only the message, so it is read as text: these are
// kube-scheduler's own wordings (its HTTPExtender, net/http, net).
func extenderUnreachable(msg string) bool {
	for _, s := range []string{
		"with extender at URL", // a status other than 200
		"connection refused", "connection reset", "no such host", "no route to host",
		"context deadline exceeded", "Client.Timeout exceeded", "i/o timeout", "EOF",
		"zz-extender is not ready", // its 503 while its caches sync
		// The extender's bind failing on the apiserver (its RBAC, a
		// conflict): no GPU pod binds, the install's to fix (a review).
		"write the card choice on the pod", "get pod: ", "bind: ",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// overAllocated fails on a card that holds more memory than it has: the
// one invariant zz promises, broken only by a card that shrank or changed
// under running pods, or a bug (an admin audit saw check stay green there).
func overAllocated(s *State) []Result {
	if len(s.GPUNodes) == 0 {
		return nil
	}
	if s.LedgerErr != nil {
		return []Result{unreadable(GroupGPUNodes, "the GPU pods", s.LedgerErr)}
	}
	r := Result{Group: GroupGPUNodes, Name: "GPU memory allocated", Status: OK, Detail: "no card holds more than it has"}
	if len(s.OverAllocated) > 0 {
		r.Status = Fail
		r.Detail = "1 card holds more memory than it has: "
		if len(s.OverAllocated) > 1 {
			r.Detail = fmt.Sprintf("%d cards hold more memory than they have: ", len(s.OverAllocated))
		}
		r.Detail += strings.Join(s.OverAllocated, "; ")
		r.Hint = "kubectl zz gpu NODE -o wide; move pods off the card (delete the latest) until it fits, and check the node's device plugin and inventory"
	}
	out := []Result{r}
	if len(s.OnMissingCards) > 0 {
		// A card the node stopped listing (a reset, a fault) under running
		// pods: the ledger keeps their memory held, but only kubectl zz gpu
		// said so (an admin audit saw check green, all cards healthy).
		out = append(out, Result{Group: GroupGPUNodes, Name: "GPU pods on cards their node lists", Status: Warn,
			Detail: fmt.Sprintf("%s on a card its node no longer lists: %s", map[bool]string{true: "1 pod holds memory", false: fmt.Sprintf("%d pods hold memory", len(s.OnMissingCards))}[len(s.OnMissingCards) == 1], listSome(s.OnMissingCards)),
			Hint:   "the card left the node's inventory (a GPU reset or fault): kubectl zz gpu NODE -o wide shows it, the log of the node's zz-device-plugin pod says why; the memory stays held until the card is back or the pods end"})
	}
	return out
}

// duplicateCards fails on a card UUID that two nodes' inventories list: a
// GPU's UUID is unique, so one inventory is forged (root on that node
// published another node's card, to attract the pods pinned to it; a
// root-on-one-node audit) or a node was cloned. The extender gives the card
// to no new pod on either node until one stops listing it, but on the one
// node that serves a pod on it (gpushare.DuplicateReason's doc).
func duplicateCards(s *State) []Result {
	if len(s.GPUNodes) == 0 || s.LedgerErr != nil {
		return nil // overAllocated says the ledger could not be read
	}
	r := Result{Group: GroupGPUNodes, Name: "GPU card UUIDs", Status: OK, Detail: "no card is listed by two nodes"}
	if len(s.DuplicateCards) > 0 {
		r.Status = Fail
		r.Detail = fmt.Sprintf("%s listed by several nodes (a new pod gets it only on the one node that serves a pod on it, if one does): %s",
			map[bool]string{true: "1 card is", false: fmt.Sprintf("%d cards are", len(s.DuplicateCards))}[len(s.DuplicateCards) == 1], listSome(s.DuplicateCards))
		r.Hint = "a GPU's UUID is unique: the inventory of one of these nodes is forged (root on that node) or the node is a clone; " +
			"compare with nvidia-smi -L on each node, then fix or drain the wrong one (kubectl zz gpu NODE -o wide shows the cards)"
	}
	return []Result{r}
}

// gpuDefaultPool judges the pool the policy gives GPU pods that name none
// against the GPU nodes: a pool without one (the general pool of CPU
// nodes, where defaultGPUPool is unset) leaves every such pod Pending for
// good, a GPU app deployed without spec.pool among them.
func gpuDefaultPool(s *State) []Result {
	d := s.GPUDefaultPool
	if d == nil || len(s.GPUNodes) == 0 {
		return nil // no policy (wholeCardPools says why) or no GPU node (gpuNodes)
	}
	sel := labels.SelectorFromSet(d.NodeSelector)
	var in []string
	for _, n := range s.GPUNodes {
		if sel.Matches(labels.Set(n.Labels)) {
			in = append(in, n.Name)
		}
	}
	r := Result{Group: GroupGPUNodes, Name: "GPU pods naming no pool", Status: OK,
		Detail: fmt.Sprintf("go to pool %s (%s), on %s: %s", d.Name, d.Field, count(len(in), "GPU node"), listSome(in))}
	if len(in) == 0 {
		r.Status = Fail
		r.Detail = fmt.Sprintf("go to pool %s (%s), whose nodeSelector %v matches no GPU node: they stay Pending for good", d.Name, d.Field, d.NodeSelector)
		r.Hint = fmt.Sprintf("set defaultGPUPool to the pool of the GPU nodes in ConfigMap %s (kubectl get nodes -l %s -L %s)", s.PolicySource, contract.LabelGPUNode, contract.LabelPool)
		if d.Field == "defaultGPUPool" {
			r.Hint = fmt.Sprintf("name the pool of the GPU nodes in defaultGPUPool, or label them with pools.%s.nodeSelector (ConfigMap %s; kubectl get nodes -l %s -L %s)", d.Name, s.PolicySource, contract.LabelGPUNode, contract.LabelPool)
		}
	}
	return []Result{r}
}

// wholeCardPools judges the webhook policy's pools with gpuCardMemory
// against the cards of their GPU nodes: a pod asking for zz.io/gpu alone
// gets whole cards of any size up to it, charged that much each, so a
// larger card never takes it (a pool whose cards are all larger leaves such
// pods Pending for good) and a smaller one is taken whole.
func wholeCardPools(s *State) []Result {
	if s.PolicyErr != nil {
		return []Result{unreadable(GroupGPUNodes, "the webhook policy "+s.PolicySource, s.PolicyErr)}
	}
	if s.PolicyInvalid != nil {
		return nil // webhookPolicy says what it does
	}
	var out []Result
	for _, pool := range s.WholeCardPools {
		r := Result{Group: GroupGPUNodes, Name: "whole cards in pool " + pool.Name, Status: OK,
			Hint: fmt.Sprintf("kubectl zz gpu (its TOTAL column), then pools.%s.gpuCardMemory in ConfigMap %s", pool.Name, s.PolicySource)}
		sel := labels.SelectorFromSet(pool.NodeSelector)
		nodes, cards := 0, 0
		var smaller, larger []string
		for _, n := range s.GPUNodes {
			if !sel.Matches(labels.Set(n.Labels)) {
				continue
			}
			inv, err := contract.ParseInventory(n.Annotations[contract.AnnotationNodeGPUInventory])
			if err != nil {
				continue // the GPU node checks say why
			}
			nodes++
			for _, c := range inv.Cards {
				cards++
				switch what := fmt.Sprintf("node %s card %d (%d MiB)", n.Name, c.Index, c.MemoryMiB); {
				case c.MemoryMiB < pool.MiB:
					smaller = append(smaller, what)
				case c.MemoryMiB > pool.MiB:
					larger = append(larger, what)
				}
			}
		}
		switch {
		case nodes == 0:
			r.Status = Warn
			r.Detail = fmt.Sprintf("gpuCardMemory %d MiB, but no GPU node matches the pool's nodeSelector %v: pods asking for zz.io/gpu alone there stay Pending", pool.MiB, pool.NodeSelector)
		case len(larger) == cards:
			r.Status = Fail
			r.Detail = fmt.Sprintf("gpuCardMemory %d MiB, less than every card of the pool (%s): no pod asking for zz.io/gpu alone fits; set it to the pool's largest card memory", pool.MiB, listSome(larger))
		case len(larger) > 0:
			r.Status = Warn
			r.Detail = fmt.Sprintf("gpuCardMemory %d MiB, less than %s: whole-card pods never get those cards (a pod holds no more than it is charged); set it to the pool's largest card memory", pool.MiB, listSome(larger))
		case len(smaller) > 0:
			r.Hint = ""
			r.Detail = fmt.Sprintf("%s on %s of at most %d MiB (smaller: %s): whole-card pods take any of them whole, each charged %d MiB", count(cards, "card"), count(nodes, "node"), pool.MiB, listSome(smaller), pool.MiB)
		default:
			r.Hint = ""
			r.Detail = fmt.Sprintf("%s on %s of %d MiB, as gpuCardMemory says", count(cards, "card"), count(nodes, "node"), pool.MiB)
		}
		out = append(out, r)
	}
	return out
}

// listSome names the first few of what, and how many more.
func listSome(what []string) string { return prose.Some(what, 3) }

// componentImpact says what stops when a component has no ready pod.
func componentImpact(name string) string {
	switch {
	case strings.Contains(name, "webhook"):
		return "pods of opted-in namespaces are refused while no webhook answers (failurePolicy Fail)"
	case strings.Contains(name, "device-plugin"):
		return "no GPU node advertises its cards"
	case strings.Contains(name, "scheduler"):
		return "pods routed to " + contract.SchedulerName + " stay Pending"
	}
	return "it is not running"
}

func webhooks(s *State, now time.Time) []Result {
	if s.WebhooksErr != nil {
		return []Result{unreadable(GroupWebhook, "MutatingWebhookConfigurations", s.WebhooksErr)}
	}
	if len(s.Webhooks) == 0 {
		return []Result{{Group: GroupWebhook, Name: "configuration", Status: Warn,
			Detail: "no MutatingWebhookConfiguration labelled " + contract.LabelK8sPartOf + "=" + contract.PartOf + " or calling " + contract.WebhookPath + ": pods get no env, sidecars, CPU limits or routing to " + contract.SchedulerName,
			Hint:   "kubectl apply -k manifests/overlays/default"}}
	}
	var out []Result
	for _, cfg := range s.Webhooks {
		for _, wh := range cfg.Webhooks {
			out = append(out, certificate(cfg.Name, wh, now))
			if svc := wh.ClientConfig.Service; svc != nil {
				if sc := s.ServingCerts[svc.Namespace+"/"+svc.Name]; sc.Secret != "" || sc.Err != nil {
					out = append(out, servingCertificate(cfg.Name, wh, sc, now))
				}
				out = append(out, endpoints(s, cfg.Name, wh, svc))
			}
		}
	}
	return append(out, webhookAnswers(s)...)
}

// webhookAnswers judges the probe: the apiserver either reached a zz
// webhook (its warning came back, or its refusal), or could not call one
// (the error the apiserver gives every pod creation it matches), or went on
// without one: the case a failurePolicy Ignore hides.
func webhookAnswers(s *State) []Result {
	p := s.WebhookProbe
	if p == nil {
		return nil
	}
	r := Result{Group: GroupWebhook, Name: "answers through the apiserver"}
	where := "a dry-run pod in namespace " + p.Namespace
	msg := ""
	if p.Err != nil {
		msg = p.Err.Error()
	}
	switch {
	case p.Err == nil && p.Answer != "":
		r.Status, r.Detail = OK, where+": "+p.Answer
	case p.Answer != "":
		// The zz webhook answered; it, or admission after it, refused the pod.
		r.Status, r.Detail = OK, where+": "+p.Answer+"; the probe was then refused: "+msg
	case deploy.RefusedByZZWebhook(msg):
		r.Status, r.Detail = OK, where+" was refused by the zz webhook, so it answers: "+msg
	case callFailed(msg, s.Webhooks):
		r.Status, r.Detail = Fail, "the apiserver cannot call the webhook for "+where+", and refuses every pod creation it matches alike: "+msg
		r.Hint = callFailedHint(s, msg)
	case p.Err != nil:
		r.Status, r.Detail = Warn, "could not probe the webhook with "+where+": "+msg
		r.Hint = "kubectl zz check creates it as a server-side dry run (nothing is stored): run it as a cluster admin; a refusal by Pod Security, a quota or another admission plugin hides the webhook's answer"
	case ignoredOnFailure(s.Webhooks):
		r.Status, r.Detail = Warn, "the apiserver admitted "+where+" with no answer from the zz webhook: with failurePolicy Ignore a webhook it cannot call is skipped in silence, and pods are created unmutated (no env, sidecars, CPU limits, pool or scheduler)"
		r.Hint = "kubectl get --raw /metrics | grep apiserver_admission_webhook_fail_open_count; then the webhook's clientConfig and logs"
	default:
		r.Status, r.Detail = Warn, "the apiserver admitted "+where+" with no answer from the zz webhook: its configuration's selectors do not match that namespace's pods, or the webhook predates this kubectl zz"
		r.Hint = getWebhookConfigs(s.Webhooks) + " (namespaceSelector, objectSelector); kubectl zz version"
	}
	return []Result{r}
}

// callFailed says whether msg is the apiserver failing to call one of the
// zz webhooks; another webhook's failure (a policy engine's) only kept the
// probe from reaching zz's.
func callFailed(msg string, cfgs []admissionregistrationv1.MutatingWebhookConfiguration) bool {
	for _, cfg := range cfgs {
		for _, wh := range cfg.Webhooks {
			if strings.Contains(msg, fmt.Sprintf("failed calling webhook %q", wh.Name)) {
				return true
			}
		}
	}
	return false
}

// getWebhookConfigs is the command that shows the zz webhook configurations.
func getWebhookConfigs(cfgs []admissionregistrationv1.MutatingWebhookConfiguration) string {
	names := make([]string, len(cfgs))
	for i, cfg := range cfgs {
		names[i] = cfg.Name
	}
	return "kubectl get mutatingwebhookconfigurations " + strings.Join(names, " ") + " -o yaml"
}

// ignoredOnFailure says whether a zz webhook lets pods through unmutated
// when it cannot be called.
func ignoredOnFailure(cfgs []admissionregistrationv1.MutatingWebhookConfiguration) bool {
	for _, cfg := range cfgs {
		for _, wh := range cfg.Webhooks {
			if wh.FailurePolicy != nil && *wh.FailurePolicy == admissionregistrationv1.Ignore {
				return true
			}
		}
	}
	return false
}

func days(d time.Duration) string { return count(int(d.Hours()/24), "day") }

// count is "1 card" or "3 cards".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func endpoints(s *State, cfg string, wh admissionregistrationv1.MutatingWebhook, svc *admissionregistrationv1.ServiceReference) Result {
	key := svc.Namespace + "/" + svc.Name
	r := Result{Group: GroupWebhook, Name: cfg + " " + wh.Name + " endpoints"}
	if err := s.EndpointsErrors[key]; err != nil {
		return unreadable(GroupWebhook, "the EndpointSlices of Service "+key, err)
	}
	n := s.Endpoints[key]
	if n > 0 {
		r.Status, r.Detail = OK, fmt.Sprintf("Service %s has %s", key, count(n, "ready endpoint"))
		return r
	}
	r.Status, r.Detail = Fail, fmt.Sprintf("Service %s has no ready endpoint: every pod creation the webhook matches is refused", key)
	if wh.FailurePolicy != nil && *wh.FailurePolicy == admissionregistrationv1.Ignore {
		r.Status, r.Detail = Warn, fmt.Sprintf("Service %s has no ready endpoint: pods are created unmutated (failurePolicy Ignore)", key)
	}
	r.Hint = fmt.Sprintf("kubectl -n %s get pods -l %s=%s", svc.Namespace, contract.LabelK8sPartOf, contract.PartOf)
	return r
}

func policies(s *State) []Result {
	if s.PoliciesErr != nil {
		return []Result{unreadable(GroupPolicies, "ValidatingAdmissionPolicies and their bindings", s.PoliciesErr)}
	}
	if len(s.Policies) == 0 {
		return []Result{{Group: GroupPolicies, Name: "install", Status: Fail,
			Detail: "no ValidatingAdmissionPolicy labelled " + contract.LabelK8sPartOf + "=" + contract.PartOf + ": a namespace's edit user can forge GPU assignments and escape GPU memory quotas",
			Hint:   "kubectl apply -k manifests/policies (part of manifests/overlays/default)"}}
	}
	var out []Result
	for _, p := range s.Policies {
		r := Result{Group: GroupPolicies, Name: p.Name}
		var actions []string
		for _, b := range s.Bindings {
			if b.Spec.PolicyName != p.Name {
				continue
			}
			for _, a := range b.Spec.ValidationActions {
				actions = append(actions, string(a))
			}
		}
		switch {
		case slices.Contains(actions, string(admissionregistrationv1.Deny)):
			r.Status, r.Detail = OK, "bound, Deny"
		case len(actions) > 0:
			r.Status, r.Detail = Warn, "bound with "+strings.Join(actions, ", ")+" only: it reports, it refuses nothing"
			r.Hint = "kubectl apply -k manifests/policies restores the shipped binding (Deny)"
		default:
			r.Status, r.Detail = Fail, "not bound: nothing enforces it"
			r.Hint = "kubectl apply -k manifests/policies (an admin who removed the binding to repair an object applies it again)"
		}
		if p.Spec.FailurePolicy != nil && *p.Spec.FailurePolicy == admissionregistrationv1.Ignore && r.Status == OK {
			r.Status, r.Detail = Warn, "bound, Deny, but failurePolicy Ignore: an error in it lets a request through"
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Result) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func gpuNodes(s *State) []Result {
	if s.NodesErr != nil {
		return []Result{unreadable(GroupGPUNodes, "nodes", s.NodesErr)}
	}
	if len(s.GPUNodes) == 0 {
		return []Result{{Group: GroupGPUNodes, Name: "nodes", Status: Warn,
			Detail: "no node labelled " + contract.LabelGPUNode + "=true: GPU pods have nowhere to run",
			Hint:   "kubectl label node NODE " + contract.LabelGPUNode + "=true on nodes with NVIDIA cards (the device plugin's DaemonSet selects them)"}}
	}
	var out []Result
	cards, healthy, cordoned := 0, 0, 0
	for _, n := range s.GPUNodes {
		name := "node " + n.Name
		cordon, _ := gpushare.ParseCordon(n.Annotations[contract.AnnotationNodeGPUCordon])
		raw, ok := n.Annotations[contract.AnnotationNodeGPUInventory]
		if !ok {
			out = append(out, Result{Group: GroupGPUNodes, Name: name, Status: Fail, Detail: "no GPU inventory: the device plugin has not published the node's cards",
				Hint: "kubectl get pods -A -l " + contract.LabelK8sPartOf + "=" + contract.PartOf + " --field-selector spec.nodeName=" + n.Name})
			continue
		}
		inv, err := contract.ParseInventory(raw)
		if err != nil {
			out = append(out, Result{Group: GroupGPUNodes, Name: name, Status: Fail, Detail: "its GPU inventory cannot be read: " + err.Error()})
			continue
		}
		var down []string
		for _, c := range inv.Cards {
			cards++
			if gpushare.ListsUUID(cordon, c.UUID) {
				cordoned++
			}
			if c.Healthy {
				healthy++
				continue
			}
			d := fmt.Sprintf("card %d", c.Index)
			if c.Reason != "" {
				d += " (" + c.Reason + ")"
			}
			down = append(down, d)
		}
		alloc := n.Status.Allocatable[contract.ResourceGPU]
		if other := otherGPUResources(n.Status.Allocatable); other != "" {
			out = append(out, Result{Group: GroupGPUNodes, Name: name, Status: Warn,
				Detail: "it also advertises " + other + ": another device plugin hands out the cards zz shares (NVIDIA's, HAMi's or the GPU Operator's), and a pod it gives one uses memory zz's ledger has free, so cards run out under pods zz placed",
				Hint:   "keep that device plugin's DaemonSet off nodes labelled " + contract.LabelGPUNode + "=true (kubectl get daemonsets -A -o wide; a nodeAffinity NotIn on that label), or take the label off the node"})
		}
		switch {
		case len(inv.Cards) > 0 && alloc.IsZero():
			out = append(out, Result{Group: GroupGPUNodes, Name: name, Status: Fail,
				Detail: fmt.Sprintf("%d cards in its inventory, but no %s allocatable: the kubelet has no device plugin registered", len(inv.Cards), contract.ResourceGPU),
				Hint:   "the device plugin's log on that node"})
		case len(down) > 0:
			out = append(out, Result{Group: GroupGPUNodes, Name: name, Status: Warn,
				Detail: fmt.Sprintf("%d of %d cards unhealthy: %s", len(down), len(inv.Cards), strings.Join(down, ", ")),
				Hint:   "kubectl zz gpu " + n.Name + " -o wide"})
		}
	}
	summary := Result{Group: GroupGPUNodes, Name: "nodes", Status: OK,
		Detail: fmt.Sprintf("%s, %s, %d healthy", count(len(s.GPUNodes), "GPU node"), count(cards, "card"), healthy)}
	if cordoned > 0 {
		// Healthy, but out of scheduling by an admin (kubectl zz gpu cordon).
		summary.Detail += fmt.Sprintf(", %d cordoned (kubectl zz gpu shows which)", cordoned)
	}
	return append(append([]Result{summary}, enforcement(s)...), out...)
}

// otherGPUResources names the NVIDIA resources a node advertises beside
// zz's (nvidia.com/gpu, MIG slices, HAMi's), with their counts: another device
// plugin serving the same cards.
func otherGPUResources(alloc corev1.ResourceList) string {
	var out []string
	for name, q := range alloc {
		if strings.HasPrefix(string(name), "nvidia.com/") && !q.IsZero() {
			out = append(out, fmt.Sprintf("%s (%s)", name, q.String()))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// enforcement says whether each device plugin DaemonSet holds pods to their
// GPU memory requests: without --over-request=kill (or MPS, where the driver
// does) a pod that allocates past its request takes the memory of the
// others on its card.
func enforcement(s *State) []Result {
	var out []Result
	for _, ds := range s.DaemonSets {
		for _, c := range ds.Spec.Template.Spec.Containers {
			action, mps, plugin := "", false, strings.Contains(ds.Name, "device-plugin")
			for i, a := range c.Args {
				switch {
				case strings.HasPrefix(a, "--over-request="):
					action, plugin = strings.TrimPrefix(a, "--over-request="), true
				case a == "--over-request" && i+1 < len(c.Args):
					action, plugin = c.Args[i+1], true
				case a == "--mps" || a == "--mps=true":
					mps = true
				}
			}
			if !plugin {
				continue
			}
			r := Result{Group: GroupGPUNodes, Name: "GPU memory requests enforced (" + ds.Namespace + "/" + ds.Name + ")"}
			switch {
			case action == "kill" && !mayKill(c.SecurityContext):
				r.Status, r.Detail = Fail, "--over-request=kill, but the container drops CAP_KILL: it cannot signal the processes of pods running as another user (non-root pods), so those keep what they take over their request"
				r.Hint = "add capabilities: {add: [KILL]} to its securityContext (the shipped manifests do)"
			case action == "kill":
				r.Status, r.Detail = OK, "--over-request=kill: a pod over its request on a card loses its processes there"
			case mps:
				// The MPS client reads its limit from its own environment,
				// which a process may change before it starts CUDA.
				r.Status, r.Detail = Warn, "--mps without --over-request=kill: the MPS limit is read from the process's environment, which a process of the pod may change"
				r.Hint = "keep --over-request=kill as the backstop (Helm: devicePlugin.overRequest=kill)"
			default:
				if action == "" {
					action = "event (the default)"
				}
				r.Status, r.Detail = Warn, "--over-request="+action+": a pod that allocates past its request takes the GPU memory of the others on its card; zz only warns"
				r.Hint = "set --over-request=kill on the DaemonSet (the shipped manifests do; Helm: devicePlugin.overRequest=kill)"
			}
			out = append(out, r)
		}
	}
	return out
}

// mayKill says a container keeps CAP_KILL: privileged, or the capability
// not dropped (ALL or KILL) or added back.
func mayKill(sc *corev1.SecurityContext) bool {
	if sc == nil || ptr.Deref(sc.Privileged, false) || sc.Capabilities == nil {
		return true
	}
	named := func(list []corev1.Capability, names ...corev1.Capability) bool {
		return slices.ContainsFunc(list, func(c corev1.Capability) bool {
			return slices.Contains(names, corev1.Capability(strings.ToUpper(strings.TrimPrefix(string(c), "CAP_"))))
		})
	}
	return named(sc.Capabilities.Add, "KILL", "ALL") || !named(sc.Capabilities.Drop, "KILL", "ALL")
}

func namespaces(s *State) []Result {
	r := Result{Group: GroupNamespaces, Name: "opted in"}
	switch {
	case s.NamespacesErr != nil:
		return []Result{unreadable(GroupNamespaces, "namespaces", s.NamespacesErr)}
	case len(s.OptedIn) == 0:
		r.Status, r.Detail = Warn, "no namespace is labelled "+contract.LabelInjection+"="+contract.InjectionEnabled+": the webhook serves none"
		r.Hint = "kubectl label namespace NS " + contract.LabelInjection + "=" + contract.InjectionEnabled
	default:
		slices.Sort(s.OptedIn)
		shown := s.OptedIn
		if len(shown) > 5 {
			shown = append(slices.Clone(shown[:5]), "...")
		}
		r.Status, r.Detail = OK, fmt.Sprintf("%s labelled %s=%s (%s)", count(len(s.OptedIn), "namespace"), contract.LabelInjection, contract.InjectionEnabled, strings.Join(shown, ", "))
	}
	return []Result{r}
}
