package inject

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/inf.v0"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// ErrNoContainers refuses a pod without containers.
var ErrNoContainers = errors.New("the pod has no containers; give it at least one under spec.containers")

// mutator changes a pod in place; an error refuses the pod with its message.
type mutator struct {
	// feature names the switch of AnnotationInjectDisable; "" is not optional.
	feature string
	apply   func(p *Policy, s *podState) error
}

// mutators run in this order on every pod. Each is idempotent: run on its
// own output it changes nothing, so a reinvocation adds nothing twice.
var mutators = []mutator{
	{"", (*Policy).priority},
	{"", (*Policy).injectSidecars},             // FeatureSidecars drops all but the required ones
	{contract.FeatureEnv, (*Policy).injectEnv}, // after sidecars, so they get it too
	{"", (*Policy).pool},                       // node selector always; the ratio is FeatureOvercommit
	{contract.FeatureScheduler, (*Policy).schedule},
	{contract.FeatureHygiene, (*Policy).hygiene},
	{contract.FeatureLxcfs, (*Policy).lxcfs},
	{"", (*Policy).debug},
	{"", (*Policy).routeGPU},
	{"", (*Policy).gpuEnv}, // after routeGPU, which gives whole-card pods their cards
}

type podState struct {
	pod       *corev1.Pod
	namespace string
	disabled  map[string]bool
	// placed marks a pod whose node is chosen already: a DaemonSet's (it
	// runs where its DaemonSet says) or one created with spec.nodeName
	// (kubectl debug node/NAME, a controller pinning pods), which no
	// scheduler sees: it gets neither the default pool, whose selector the
	// kubelet would hold against the node it names and fail it, nor
	// another scheduler. It is still kept off pools reserved to other
	// namespaces (avoidReserved: the kubelet refuses it there).
	placed bool
	pool   string // set by the pool mutator
	// warnings the mutators give the client.
	warnings []string
}

// Mutate applies the policy to pod in place (namespace is the request's: a
// pod being created may not carry it yet). An error refuses the pod; its
// message tells the user what to change. Warnings are returned to the client.
func (p *Policy) Mutate(pod *corev1.Pod, namespace string) (warnings []string, err error) {
	if len(pod.Spec.Containers) == 0 {
		return nil, ErrNoContainers
	}
	s := &podState{pod: pod, namespace: namespace, disabled: map[string]bool{}, placed: isDaemonSetPod(pod) || pod.Spec.NodeName != ""}
	warnings = s.parseDisabled()
	for _, m := range mutators {
		if m.feature != "" && (s.disabled[m.feature] || s.disabled[contract.FeatureAll]) {
			continue
		}
		if err := m.apply(p, s); err != nil {
			return append(warnings, s.warnings...), err
		}
	}
	return append(warnings, s.warnings...), nil
}

var features = []string{contract.FeatureEnv, contract.FeatureSidecars, contract.FeatureOvercommit,
	contract.FeatureHygiene, contract.FeatureLxcfs, contract.FeatureScheduler, contract.FeatureAll}

// isDaemonSetPod reports whether a DaemonSet controls the pod.
func isDaemonSetPod(pod *corev1.Pod) bool {
	ref := metav1.GetControllerOfNoCopy(pod)
	return ref != nil && ref.Kind == "DaemonSet" && ref.APIVersion == appsv1.SchemeGroupVersion.String()
}

func (s *podState) parseDisabled() (warnings []string) {
	for f := range strings.SplitSeq(s.pod.Annotations[contract.AnnotationInjectDisable], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(features, f) {
			warnings = append(warnings, fmt.Sprintf("%s: unknown feature %q ignored; use %s",
				contract.AnnotationInjectDisable, f, strings.Join(features, ", ")))
			continue
		}
		s.disabled[f] = true
	}
	return warnings
}

func (s *podState) off(feature string) bool {
	return s.disabled[feature] || s.disabled[contract.FeatureAll]
}

// allContainers returns pointers to the init containers and containers.
func allContainers(pod *corev1.Pod) []*corev1.Container {
	out := make([]*corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		out = append(out, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// longRunning returns pointers to the containers that run for the pod's
// life: its native sidecars (init containers with restartPolicy Always,
// kubectl zz's spec.sidecars) and its containers. A sidecar that sizes
// itself from /proc (Envoy's workers, a JVM's heap) reads what an app does.
func longRunning(pod *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.Spec.InitContainers {
		if contract.IsNativeSidecar(pod.Spec.InitContainers[i]) {
			out = append(out, &pod.Spec.InitContainers[i])
		}
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

// cpuCount is the container's CPU limit (the pod's where it has none)
// rounded up to whole CPUs, at least 1, in decimal; ok is false without a
// CPU limit. Decimal arithmetic, so no limit
// overflows.
func cpuCount(c *corev1.Container, pod *corev1.Pod) (n string, ok bool) {
	q, ok := c.Resources.Limits[corev1.ResourceCPU]
	if !ok && pod.Spec.Resources != nil {
		// No limit of its own: the pod-level limit bounds it.
		q, ok = pod.Spec.Resources.Limits[corev1.ResourceCPU]
	}
	if !ok {
		return "", false
	}
	// Whole millicores: integers give the same count without the decimal's
	// allocations (TestCPUCountIntegerEqualsDecimal).
	if m, ok := wholeMillis(q); ok {
		return strconv.FormatInt((m+999)/1000, 10), true
	}
	return cpuCountDec(q), true
}

// cpuCountDec is cpuCount in decimal arithmetic, for any limit.
func cpuCountDec(q resource.Quantity) string {
	d := new(inf.Dec).Round(q.AsDec(), 0, inf.RoundCeil)
	if d.Cmp(oneDec) < 0 {
		return "1"
	}
	return d.String()
}

var oneDec, oneMilli, maxMilli = inf.NewDec(1, 0), inf.NewDec(1, 3), inf.NewDec(math.MaxInt64, 3)

// scaledRequest is limit x permille / 1000 rounded up to a millicore, at
// least 1m, in decimal arithmetic (a 100T limit must not wrap to 1m). A
// request beyond int64 millicores (which the scheduler could not count) is
// the limit itself: never less than the ratio allows.
func scaledRequest(limit resource.Quantity, permille int64) resource.Quantity {
	// A limit of whole millicores (every limit a person writes) small enough
	// that m x permille fits int64 gives the same result in integers,
	// without the decimal's dozen allocations on every review.
	if m, ok := wholeMillis(limit); ok && permille >= 0 && permille <= maxIntPermille {
		return *resource.NewMilliQuantity(max((m*permille+999)/1000, 1), resource.DecimalSI)
	}
	return scaledRequestDec(limit, permille)
}

// maxIntMilli x maxIntPermille < 2^63: scaledRequest's integer path cannot wrap.
const maxIntMilli, maxIntPermille = 1 << 50, 1 << 12

// wholeMillis is q in millicores when q is a positive whole number of them
// no larger than maxIntMilli: the limits the integer paths may compute with.
func wholeMillis(q resource.Quantity) (int64, bool) {
	m := q.MilliValue()
	return m, m > 0 && m <= maxIntMilli && resource.NewMilliQuantity(m, resource.DecimalSI).Cmp(q) == 0
}

// scaledRequestDec is scaledRequest in decimal arithmetic, for any limit.
func scaledRequestDec(limit resource.Quantity, permille int64) resource.Quantity {
	d := new(inf.Dec).Mul(limit.AsDec(), inf.NewDec(permille, 3))
	d.Round(d, 3, inf.RoundCeil)
	if d.Cmp(oneMilli) < 0 {
		d.Set(oneMilli)
	}
	if d.Cmp(maxMilli) > 0 {
		return limit
	}
	return *resource.NewDecimalQuantity(*d, resource.DecimalSI)
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

func addEnv(c *corev1.Container, name, value string) {
	if value == "" || hasEnv(c.Env, name) {
		return
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

// injectEnv adds NUM_CPUS, the app group, cluster and environment names, and
// the JVM's processor count to every container; values already set stay.
func (p *Policy) injectEnv(s *podState) error {
	java := p.spec.Java != nil && p.spec.Java.Matches(s.pod)
	for _, c := range allContainers(s.pod) {
		if n, ok := cpuCount(c, s.pod); ok {
			addEnv(c, contract.EnvNumCPUs, n)
			if java {
				addEnv(c, contract.EnvJavaOptions, "-XX:ActiveProcessorCount="+n)
			}
		}
		addEnv(c, contract.EnvAppGroup, s.pod.Labels[contract.LabelGroup])
		addEnv(c, contract.EnvClusterName, p.spec.Cluster)
		addEnv(c, contract.EnvEnvironment, p.spec.Environment)
	}
	return nil
}

// injectSidecars adds the policy's matching containers by name, once.
func (p *Policy) injectSidecars(s *podState) error {
	d := templateData{Name: s.pod.Name, Namespace: s.namespace, App: s.pod.Labels[contract.LabelApp],
		Group: s.pod.Labels[contract.LabelGroup], Labels: s.pod.Labels}
	if d.Name == "" {
		d.Name = strings.TrimSuffix(s.pod.GenerateName, "-")
	}
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	off := s.off(contract.FeatureSidecars)
	for _, sc := range p.sidecars {
		if !sc.when.Matches(s.pod) || (off && !sc.required) {
			continue
		}
		have := findContainer(s.pod, sc.name)
		if have != nil && !sc.required {
			continue // the pod's own, or injected before (a reinvocation)
		}
		c, err := sc.render(d)
		if err != nil {
			return fmt.Errorf("policy sidecar %s cannot be rendered for this pod: %w; ask the cluster admin to fix the template", sc.name, err)
		}
		if restricted(s.pod) {
			restrict(&c)
		}
		if have != nil {
			// Injected before (a reinvocation), or the pod's own under the
			// sidecar's name. Either way the policy's container replaces it
			// whole, so nothing of the pod's (env, mounts, security
			// context) stays in it; the mutators after this one add what
			// they added the first time. One that runs another program, or
			// sits in the other list, is the pod's: refused.
			list := s.pod.Spec.Containers
			if sc.init {
				list = s.pod.Spec.InitContainers
			}
			i := slices.IndexFunc(list, func(x corev1.Container) bool { return x.Name == sc.name })
			if i < 0 || have.Image != c.Image || !slices.Equal(have.Command, c.Command) || !slices.Equal(have.Args, c.Args) {
				return fmt.Errorf("container %s is the name of a sidecar the cluster's policy requires in this pod; rename the pod's container (the policy adds its own)", sc.name)
			}
			list[i] = c
			continue
		}
		if sc.init {
			s.pod.Spec.InitContainers = append(s.pod.Spec.InitContainers, c)
		} else {
			s.pod.Spec.Containers = append(s.pod.Spec.Containers, c)
		}
	}
	return nil
}

// restricted says whether pod asks for the restricted Pod Security level
// (kubectl zz deploy's securityContext.restricted): runAsNonRoot and a
// seccomp profile of its own. What the webhook adds then meets that
// level too, or the pod it let through would be refused (a review).
func restricted(pod *corev1.Pod) bool {
	sc := pod.Spec.SecurityContext
	return sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.SeccompProfile != nil &&
		(sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault || sc.SeccompProfile.Type == corev1.SeccompProfileTypeLocalhost)
}

// restrict gives a sidecar the restricted level's container settings its
// template leaves unset: no privilege escalation, no capability.
func restrict(c *corev1.Container) {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	if c.SecurityContext.AllowPrivilegeEscalation == nil {
		c.SecurityContext.AllowPrivilegeEscalation = new(bool)
	}
	if c.SecurityContext.Capabilities == nil {
		c.SecurityContext.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	}
}

// findContainer is the pod's container (or init container) named name.
func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, c := range allContainers(pod) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// poolOf finds the pod's pool: its zz.io/pool label, else the pool whose
// node selector the pod already uses, else the default pool ("" for none;
// a DaemonSet's pods and pods created on a node get none, they run where
// their DaemonSet or spec.nodeName says). A pool reserved to other
// namespaces is refused.
func (p *Policy) poolOf(pod *corev1.Pod, namespace string, placed bool) (string, error) {
	name, found := pod.Labels[contract.LabelPool]
	if found {
		if _, known := p.spec.Pools[name]; !known {
			return "", fmt.Errorf("label %s=%s names no pool of this cluster; use one of %v",
				contract.LabelPool, name, p.openPools(namespace))
		}
	}
	for _, n := range sortedKeys(p.spec.Pools) {
		if sel := p.spec.Pools[n].NodeSelector; !found && matchMap(sel, pod.Spec.NodeSelector) {
			name, found = n, true
		}
	}
	if v, set := pod.Spec.NodeSelector[contract.LabelPool]; !found && set {
		// The node selector zz.io/pool=NAME (an app spec's pool:) names
		// the pool NAME, whatever labels that pool's nodes carry: the
		// shipped critical pool selects node-restriction.kubernetes.io/
		// zz-pool, and its pods were refused as naming no pool (a chaos
		// audit). Placed in the default pool instead, a pod naming a pool
		// the policy lacks would run where it did not ask to.
		if _, known := p.spec.Pools[v]; !known {
			return "", fmt.Errorf("node selector %s=%s names no pool of this cluster; use one of %v",
				contract.LabelPool, v, p.openPools(namespace))
		}
		name, found = v, true
	}
	if !found && placed {
		return "", nil
	}
	if !found {
		return p.defaultPoolFor(pod), nil
	}
	if allowed := p.spec.Pools[name].Namespaces; len(allowed) > 0 && !slices.Contains(allowed, namespace) {
		return "", fmt.Errorf("pool %s is reserved for namespaces %v; use another pool (%s label) or ask the cluster admin",
			name, allowed, contract.LabelPool)
	}
	return name, nil
}

// openPools are the pools a pod of namespace may use, sorted: one reserved
// to others would only be refused next.
func (p *Policy) openPools(namespace string) []string {
	var open []string
	for _, n := range sortedKeys(p.spec.Pools) {
		if ns := p.spec.Pools[n].Namespaces; len(ns) == 0 || slices.Contains(ns, namespace) {
			open = append(open, n)
		}
	}
	return open
}

// ownPlacement says how the pod chooses its nodes besides the pool's
// selector: its other nodeSelector entries, or its required node affinity
// ("" when neither).
func ownPlacement(pod *corev1.Pod, poolSel map[string]string) string {
	own := map[string]string{}
	for k, v := range pod.Spec.NodeSelector {
		if _, pools := poolSel[k]; !pools {
			own[k] = v
		}
	}
	if len(own) > 0 {
		return "node selector " + labels.Set(own).String()
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		return "required node affinity"
	}
	return ""
}

// defaultPoolFor is the pool of a pod that names none: defaultGPUPool for
// one asking for GPU memory or cards where the policy sets it, else
// defaultPool ("" for none).
func (p *Policy) defaultPoolFor(pod *corev1.Pod) string {
	if p.spec.DefaultGPUPool != "" && asksGPUMem(pod) {
		return p.spec.DefaultGPUPool
	}
	return p.spec.DefaultPool
}

// pool pins the pod to its pool's nodes and sets CPU requests from the
// pool's ratio. Only the policy decides both: the pool's selector overwrites
// the pod's keys, and every request is recomputed from the limit, so a pod can
// neither lower its request below the ratio nor borrow another pool's hosts.
// A pod that switches overcommit off gets requests equal to limits.
//
// A pod in no pool (a DaemonSet's, one created with spec.nodeName, or any
// where the policy has no default pool) is pinned nowhere, but it is kept
// off the nodes of pools reserved to other namespaces, and a DaemonSet's
// pods (and those created on a node) get the strictest ratio of the pools
// they may reach: they run on any of those pools' nodes, so a DaemonSet's
// node affinity must not reach a reserved pool, nor its requests fall
// below the ratio of the nodes it lands on (an owner reference is the
// client's to write, so "DaemonSet" alone grants nothing; a hostile-tenant
// audit got the default pool's 0.5 on a 0.8 pool's node by nodeName).
func (p *Policy) pool(s *podState) error {
	name, err := p.poolOf(s.pod, s.namespace, s.placed)
	if err != nil {
		return err
	}
	if name == "" {
		p.avoidReserved(s.pod, s.namespace)
		if permille, ok := p.strictestRatio(s.namespace); s.placed && ok {
			p.scaleRequestsBy(s, permille)
		}
		return nil
	}
	s.pool = name
	sel, named := p.spec.Pools[name].NodeSelector, false
	if _, poolKey := sel[contract.LabelPool]; !poolKey && s.pod.Spec.NodeSelector[contract.LabelPool] == name {
		// The pod named its pool by zz.io/pool in its node selector and
		// the pool's nodes carry other labels: the pool's selector takes
		// the name's place (no node of the pool need carry zz.io/pool).
		delete(s.pod.Spec.NodeSelector, contract.LabelPool)
		named = true
	}
	if _, labelled := s.pod.Labels[contract.LabelPool]; !labelled && !named && !matchMap(sel, s.pod.Spec.NodeSelector) {
		if own := ownPlacement(s.pod, sel); own != "" {
			// The pod chose nodes and the default pool narrows them: it
			// waits for good where none is in both, with nothing saying
			// the webhook added half of the selector (kube-scheduler audit).
			s.warnings = append(s.warnings, fmt.Sprintf("the pod names no pool, so it joins the default pool %s (node selector %s) on top of its own %s: it runs only on nodes that match both; label it %s=<pool> to choose its pool",
				name, labels.Set(p.spec.Pools[name].NodeSelector).String(), own, contract.LabelPool))
		}
	}
	for k, v := range p.spec.Pools[name].NodeSelector {
		if s.pod.Spec.NodeSelector == nil {
			s.pod.Spec.NodeSelector = map[string]string{}
		}
		s.pod.Spec.NodeSelector[k] = v
	}
	p.scaleRequests(s, name)
	return nil
}

// scaleRequests sets every CPU request from its limit by the pool's ratio
// (requests equal to limits where the pod switched overcommit off).
func (p *Policy) scaleRequests(s *podState, pool string) {
	p.scaleRequestsBy(s, p.permille[pool])
}

// strictestRatio is the highest CPU ratio (in permille) of the pools a pod
// of namespace may reach: all but those reserved to other namespaces; false
// when there is none.
func (p *Policy) strictestRatio(namespace string) (int64, bool) {
	var most int64
	for name, pool := range p.spec.Pools {
		if (PoolRatio{Namespaces: pool.Namespaces}).Reaches(namespace) {
			most = max(most, p.permille[name])
		}
	}
	return most, most > 0
}

// scaleRequestsBy sets every CPU request to its limit × permille/1000
// (the limit itself for a pod that switches overcommit off), raised where
// the namespace's LimitRanges would refuse less (WithLimitRanges).
func (p *Policy) scaleRequestsBy(s *podState, permille int64) {
	if s.off(contract.FeatureOvercommit) {
		permille = 1000
	}
	clamps := p.setRequests(s.pod, permille)
	if permille >= 1000 {
		return // requests = limits: every LimitRange that admits the limits admits them
	}
	if p.limitsUnread != nil && slices.ContainsFunc(allContainers(s.pod), hasCPULimit) {
		s.warnings = append(s.warnings, fmt.Sprintf("CPU requests are limits × %s, not checked against the namespace's LimitRanges (%v): one with min cpu or maxLimitRequestRatio cpu may refuse the pod; create it again in a moment",
			permilleWords(permille), p.limitsUnread))
	}
	clamps = p.fitPod(s.pod, permille, clamps)
	for _, c := range clamps {
		s.warnings = append(s.warnings, c.warning(scaledBy(s, permille)))
		if p.onClamp != nil {
			p.onClamp(c)
		}
	}
}

func hasCPULimit(c *corev1.Container) bool {
	_, ok := c.Resources.Limits[corev1.ResourceCPU]
	return ok
}

// scaledBy names the ratio the requests were scaled by.
func scaledBy(s *podState, permille int64) string {
	if s.pool == "" {
		return permilleWords(permille) + ", the strictest overcommit of the pools it may run on"
	}
	return permilleWords(permille) + ", the cpuOvercommitRatio of pool " + s.pool
}

// setRequests sets every CPU request from its limit by permille, raised to
// the namespace's Container bounds, and the pod-level request; it returns
// the requests raised.
func (p *Policy) setRequests(pod *corev1.Pod, permille int64) []Clamp {
	var clamps []Clamp
	for _, c := range allContainers(pod) {
		limit, ok := c.Resources.Limits[corev1.ResourceCPU]
		if !ok {
			continue
		}
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		c.Resources.Requests[corev1.ResourceCPU] = scaledRequest(limit, permille)
		if p.cpuBounds != nil {
			if cl, raised := p.cpuBounds.clampContainer(c); raised {
				clamps = append(clamps, cl)
			}
		}
	}
	scalePodRequest(pod, permille)
	return clamps
}

// fitPod raises the pod's ratio from permille to the least whose requests
// pass the namespace's Pod bounds (min cpu per Pod, maxLimitRequestRatio
// cpu per Pod: the sum of its requests), and adds that to clamps. Where
// even requests = limits fail them the pod keeps permille: the LimitRanger
// refuses it for its limits, which are the spec's.
func (p *Policy) fitPod(pod *corev1.Pod, permille int64, clamps []Clamp) []Clamp {
	b := p.cpuBounds
	if b == nil || b.podMin.milli == 0 && b.podRatio.milli == 0 {
		return clamps
	}
	fits, by := b.podFits(pod)
	if fits {
		return clamps
	}
	before, _ := podCPU(pod)
	// The requests grow with the ratio: the least that fits is found by
	// halving [permille+1, 1000], ten passes at most.
	lo, hi := permille+1, int64(1000)
	if p.setRequests(pod, hi); !first(b.podFits(pod)) {
		p.setRequests(pod, permille)
		return clamps
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if p.setRequests(pod, mid); first(b.podFits(pod)) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	clamps = p.setRequests(pod, hi)
	// Their warnings say what the pool's ratio made of each request, not
	// the raised one's (a review: "from 240m (its limit × 0.5)" of a 400m
	// limit).
	for i := range clamps {
		for _, c := range allContainers(pod) {
			if limit, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && c.Name == clamps[i].Container {
				clamps[i].Scaled = scaledRequest(limit, permille)
			}
		}
	}
	after, _ := podCPU(pod)
	return append(clamps, Clamp{LimitRange: by.from, Constraint: constraintOf(b, by), Bound: by.value, Permille: hi,
		Scaled: *resource.NewMilliQuantity(before, resource.DecimalSI), Request: *resource.NewMilliQuantity(after, resource.DecimalSI)})
}

func first(ok bool, _ *cpuBound) bool { return ok }

// scalePodRequest sets the pod-level CPU request (spec.resources, the
// PodLevelResources feature) from the pod-level limit by the same ratio:
// without it, a pod's own limit of 8 CPUs over a 10m request took its
// containers' share of the node past the pool's overcommit (a
// hostile-tenant audit). Never below what its containers now request,
// which the apiserver requires of a pod-level request.
func scalePodRequest(pod *corev1.Pod, permille int64) {
	r := pod.Spec.Resources
	if r == nil {
		return
	}
	limit, ok := r.Limits[corev1.ResourceCPU]
	if !ok {
		return
	}
	request := scaledRequest(limit, permille)
	if floor := containerCPURequests(pod); floor.Cmp(request) > 0 {
		request = floor
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	r.Requests[corev1.ResourceCPU] = request
}

// containerCPURequests is what the apiserver sums of the containers' CPU
// requests for a pod-level request to cover: its own helper, so the two
// cannot differ (a hand sum that added every native sidecar to each plain
// init container, not only those declared before it, put the floor above
// a valid pod's limit and had the pod refused; review 17b).
func containerCPURequests(pod *corev1.Pod) resource.Quantity {
	return resourcehelper.AggregateContainerRequests(pod, resourcehelper.PodResourcesOptions{})[corev1.ResourceCPU]
}

// avoidReserved keeps a pod pinned to no pool off the nodes of every pool
// reserved to namespaces other than its own: each term of its required
// node affinity (one, matching every node, when it has none) gains "not
// this pool" (a pool selecting by several labels splits the term into one
// per label, since a term ANDs its expressions and the terms are ORed).
func (p *Policy) avoidReserved(pod *corev1.Pod, namespace string) {
	for _, name := range p.reserved {
		pool := p.spec.Pools[name]
		if slices.Contains(pool.Namespaces, namespace) || len(pool.NodeSelector) == 0 {
			continue
		}
		if pod.Spec.Affinity == nil {
			pod.Spec.Affinity = &corev1.Affinity{}
		}
		if pod.Spec.Affinity.NodeAffinity == nil {
			pod.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
		}
		na := pod.Spec.Affinity.NodeAffinity
		if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
			na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
		}
		req := na.RequiredDuringSchedulingIgnoredDuringExecution
		terms := req.NodeSelectorTerms
		if len(terms) == 0 {
			terms = []corev1.NodeSelectorTerm{{}}
		}
		var out []corev1.NodeSelectorTerm
		for _, t := range terms {
			if excludes(t, pool.NodeSelector) {
				out = append(out, t) // mutated before: once is enough
				continue
			}
			for _, k := range sortedKeys(pool.NodeSelector) {
				nt := *t.DeepCopy()
				nt.MatchExpressions = append(nt.MatchExpressions, corev1.NodeSelectorRequirement{
					Key: k, Operator: corev1.NodeSelectorOpNotIn, Values: []string{pool.NodeSelector[k]}})
				out = append(out, nt)
			}
		}
		req.NodeSelectorTerms = out
	}
}

// excludes says term already keeps off the nodes sel selects: it requires
// one of sel's labels NotIn its value.
func excludes(term corev1.NodeSelectorTerm, sel map[string]string) bool {
	return slices.ContainsFunc(term.MatchExpressions, func(r corev1.NodeSelectorRequirement) bool {
		v, ok := sel[r.Key]
		return ok && r.Operator == corev1.NodeSelectorOpNotIn && slices.Equal(r.Values, []string{v})
	})
}

// schedule gives the pod the scheduler the policy names for its namespace,
// else for its pool, so that every pod can go through zz-scheduler's
// balance. A pod that names a scheduler of its own keeps it; so do a
// DaemonSet's pods and pods created on a node (their nodes are chosen
// already). The apiserver writes
// default-scheduler into pods that name none before any webhook runs, so
// that name counts as none; FeatureScheduler keeps it.
func (p *Policy) schedule(s *podState) error {
	if s.placed || (s.pod.Spec.SchedulerName != "" && s.pod.Spec.SchedulerName != corev1.DefaultSchedulerName) {
		return nil
	}
	name := p.spec.Namespaces[s.namespace].Scheduler
	if name == "" && s.pool != "" {
		name = p.spec.Pools[s.pool].Scheduler
	}
	if name != "" && name == p.down && !asksGPUMem(s.pod) {
		s.warnings = append(s.warnings, fmt.Sprintf("%s cannot schedule now (%s): this pod is left to %s, so it is not balanced",
			name, p.downWhy, corev1.DefaultSchedulerName))
		// The warning reaches whoever created the pod, for a Deployment's
		// pods its ReplicaSet controller: the annotation lets kubectl zz
		// deploy and status tell the app's owner.
		setAnnotation(s.pod, contract.AnnotationSchedulerFallback, name)
		return nil
	}
	if name != "" {
		s.pod.Spec.SchedulerName = name
		// One copied from a template, or left by an earlier review, would
		// misreport a pod that is balanced.
		delete(s.pod.Annotations, contract.AnnotationSchedulerFallback)
	}
	return nil
}

// setAnnotation sets key on pod's annotations.
func setAnnotation(pod *corev1.Pod, key, value string) {
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[key] = value
}

// asksGPUMem reports whether the pod asks for GPU memory, which only
// zz-scheduler places (routeGPU), whatever the state of the schedulers.
func asksGPUMem(pod *corev1.Pod) bool {
	_, err := gpushare.PodRequest(pod)
	return !errors.Is(err, gpushare.ErrNoGPU)
}

// hygiene turns service links off: thousands of service env vars break
// process start with E2BIG.
func (p *Policy) hygiene(s *podState) error {
	off := false
	s.pod.Spec.EnableServiceLinks = &off
	return nil
}

// lxcfsFiles are the files lxcfs serves, mounted at the same path in containers.
var lxcfsFiles = []string{"/proc/cpuinfo", "/proc/meminfo", "/proc/diskstats", "/proc/stat",
	"/proc/swaps", "/proc/uptime", "/proc/loadavg", "/sys/devices/system/cpu/online"}

// lxcfsMount is one lxcfs file: its volume's name, its path on the node and
// in the containers. The policy builds them once; every review reuses them.
type lxcfsMount struct{ volume, hostPath, path string }

func lxcfsMounts(prefix string) []lxcfsMount {
	ms := make([]lxcfsMount, len(lxcfsFiles))
	for i, path := range lxcfsFiles {
		ms[i] = lxcfsMount{volume: contract.VolumeLxcfsPrefix + strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "-"),
			hostPath: prefix + path, path: path}
	}
	return ms
}

// lxcfs mounts lxcfs's files over /proc in every container when the policy
// says so; mounts the user made at those paths stay. The volumes and mounts
// are appended into room made once (eight of each: appending one at a time
// grew the slices of these large structs four times over).
func (p *Policy) lxcfs(s *podState) error {
	if !p.spec.Lxcfs.Enabled {
		return nil
	}
	if restricted(s.pod) {
		// Its hostPath volumes would have the pod refused.
		s.warnings = append(s.warnings, "lxcfs left out: the pod asks for the restricted Pod Security level (runAsNonRoot and a seccomp profile), which refuses hostPath volumes")
		return nil
	}
	if p.podSecurity != "" {
		why := "(" + contract.LabelPodSecurityEnforce + ")"
		if p.podSecurityDefaulted {
			why = "(no " + contract.LabelPodSecurityEnforce + " label: the webhook policy's podSecurityDefault)"
		}
		s.warnings = append(s.warnings, fmt.Sprintf("lxcfs left out: namespace %s enforces the %s Pod Security level %s, which refuses hostPath volumes; /proc shows the node's CPUs and memory (NUM_CPUS still says the container's)",
			s.namespace, p.podSecurity, why))
		return nil
	}
	fileType := corev1.HostPathFile
	spec := &s.pod.Spec
	spec.Volumes = slices.Grow(spec.Volumes, len(p.lxcfsMounts))
	sources := make([]corev1.HostPathVolumeSource, 0, len(p.lxcfsMounts))
	for _, m := range p.lxcfsMounts {
		if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.volume }) {
			sources = append(sources, corev1.HostPathVolumeSource{Path: m.hostPath, Type: &fileType})
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: m.volume,
				VolumeSource: corev1.VolumeSource{HostPath: &sources[len(sources)-1]}})
		}
	}
	for _, c := range longRunning(s.pod) {
		c.VolumeMounts = slices.Grow(c.VolumeMounts, len(p.lxcfsMounts))
		for _, m := range p.lxcfsMounts {
			if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == m.path }) {
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: m.volume, MountPath: m.path, ReadOnly: true})
			}
		}
	}
	return nil
}

// debug strips the probes of a pod annotated zz.io/debug=true, so a failing
// app stays up to be inspected.
func (p *Policy) debug(s *podState) error {
	if s.pod.Annotations[contract.AnnotationDebug] != "true" {
		return nil
	}
	for _, c := range allContainers(s.pod) {
		c.ReadinessProbe, c.LivenessProbe, c.StartupProbe = nil, nil, nil
	}
	return nil
}

// routeGPU sends pods that ask for zz.io/gpu-mem to zz-scheduler with one
// card unless they asked for more, and refuses requests no card can hold.
// On a pool with gpuCardMemory, cards asked without memory are whole cards.
func (p *Policy) routeGPU(s *podState) error {
	if err := gpushare.CheckNames(s.pod); err != nil {
		return err
	}
	if w := gpushare.ForeignAsk(s.pod); w != "" {
		s.warnings = append(s.warnings, w)
	}
	if q := p.spec.Pools[s.pool].GPUCardMemory; q != nil {
		gpushare.WholeCards(s.pod, *q)
	}
	// What the extender will read, checked now: a malformed zz.io/gpu-*
	// annotation is refused at creation with its fix, not left Pending.
	req, _, err := gpushare.PodPlacement(s.pod, gpushare.Binpack)
	if errors.Is(err, gpushare.ErrNoGPU) {
		return nil
	}
	if errors.Is(err, gpushare.ErrCardsWithoutMemory) {
		pool := s.pool
		if pool == "" {
			pool = "(none)"
		}
		return fmt.Errorf("%w (the pod's pool %s gives no whole cards: its gpuCardMemory is not set in the webhook policy)", err, pool)
	}
	if err != nil {
		return err
	}
	if nvidia := gpushare.NVIDIAAsk(s.pod); nvidia != "" {
		// A warning, not a refusal, as of HAMi's memory (ForeignAsk).
		s.warnings = append(s.warnings, "this pod "+gpushare.BesideNVIDIA(nvidia))
	}
	if req.MemMiB > p.largestMiB {
		return fmt.Errorf("%s asks for %d MiB per card but the largest card of this cluster has %d MiB; ask for at most %s",
			contract.ResourceGPUMem, req.MemMiB, p.largestMiB, p.spec.LargestGPUCard.String())
	}
	s.pod.Spec.SchedulerName = contract.SchedulerName
	if p.down == contract.SchedulerName && !s.placed {
		// No other scheduler gives cards, and none writes an event on it
		// meanwhile: say so now, as to the pods left to the default one.
		s.warnings = append(s.warnings, fmt.Sprintf("%s cannot schedule now (%s): this GPU pod waits Pending until it is back (only %s gives GPU cards)",
			contract.SchedulerName, p.downWhy, contract.SchedulerName))
	}
	gpushare.DefaultCards(s.pod)
	gpushare.SetMemTotal(s.pod) // what a ResourceQuota on the namespace counts
	return nil
}

// The PriorityClasses every cluster has for its own components
// (k8s.io/kubernetes/pkg/apis/scheduling, not a library to import).
const (
	systemNodeCritical    = "system-node-critical"
	systemClusterCritical = "system-cluster-critical"
)

// priority refuses the cluster's own PriorityClasses in a tenant's
// namespace: a pod of system-node-critical outranks every app, so the
// extender's GPU preemption (and kube-scheduler's) would evict other
// namespaces' GPU pods for it, on the card its zz.io/gpu-card names.
// Kubernetes lets any namespace use them unless the admin limits them with
// a ResourceQuota scope; the namespaces zz serves get that limit here.
//
// It also refuses CDI annotations on the pod (cdi.k8s.io/ and its
// subdomains', as the GPU Operator's nvidia.cdi.k8s.io/): a runtime that
// honoured them would hand it devices no device plugin allocated (the zz
// device plugin writes its own on the container, through Allocate).
func (p *Policy) priority(s *podState) error {
	if name := s.pod.Spec.PriorityClassName; name == systemNodeCritical || name == systemClusterCritical {
		return fmt.Errorf("priorityClassName %s is for the cluster's own components: it outranks every app, so pods of other namespaces would be evicted for this one; use a PriorityClass your cluster admin made for apps", name)
	}
	cdi := "" // the first such key, so the message does not vary
	for k := range s.pod.Annotations {
		if contract.IsCDIAnnotation(k) && (cdi == "" || k < cdi) {
			cdi = k
		}
	}
	if cdi != "" {
		return fmt.Errorf("annotation %s asks the container runtime for devices directly; GPU cards come from %s (and %s), which the device plugin hands over", cdi, contract.ResourceGPUMem, contract.ResourceGPU)
	}
	return nil
}
