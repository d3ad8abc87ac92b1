// Package inject is the webhook's decision: the admin's policy (decoded
// strictly from a ConfigMap) and the mutators that apply it to a typed
// *corev1.Pod in a fixed order, then one JSON patch from the original pod to
// the result. It does no I/O; webhook/ serves it over HTTPS.
package inject

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"text/template"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// Spec is the policy as an admin writes it under contract.PolicyKey.
type Spec struct {
	// Cluster and Environment are injected as contract.EnvClusterName / EnvEnvironment.
	Cluster     string `json:"cluster,omitempty"`
	Environment string `json:"environment,omitempty"`
	// LargestGPUCard is the memory of the largest card in the cluster; a pod
	// asking for more zz.io/gpu-mem per card is refused.
	LargestGPUCard resource.Quantity `json:"largestGPUCard"`
	// Pools maps a pool name (a pod's zz.io/pool label) to its hosts and overcommit.
	Pools map[string]PoolSpec `json:"pools,omitempty"`
	// DefaultPool applies to pods that name no pool; empty means none.
	DefaultPool string `json:"defaultPool,omitempty"`
	// DefaultGPUPool applies instead to pods that name no pool and ask
	// for GPU memory or cards (zz.io/gpu-mem, zz.io/gpu): GPU nodes are
	// usually a pool of their own, and a GPU pod sent to the default
	// pool's nodes would wait Pending for good. Empty: DefaultPool.
	DefaultGPUPool string `json:"defaultGPUPool,omitempty"`
	// Namespaces holds per-namespace settings; they win over the pool's.
	Namespaces map[string]NamespaceSpec `json:"namespaces,omitempty"`
	// Java marks pods whose containers get -XX:ActiveProcessorCount.
	Java *Selector `json:"java,omitempty"`
	// Lxcfs mounts lxcfs's files over /proc so tools see container-sized CPU and memory.
	Lxcfs LxcfsSpec `json:"lxcfs,omitempty"`
	// PodSecurityDefault is the Pod Security level the apiserver enforces
	// in namespaces without the contract.LabelPodSecurityEnforce label (its
	// PodSecurity admission configuration's defaults.enforce), which no API
	// shows: baseline or restricted leaves lxcfs out of their pods too, as
	// in a namespace labelled so. Empty: privileged, the apiserver's own.
	PodSecurityDefault string `json:"podSecurityDefault,omitempty"`
	// Sidecars are containers (or init containers) added to matching pods.
	Sidecars []SidecarSpec `json:"sidecars,omitempty"`
}

// PoolSpec is one node pool.
type PoolSpec struct {
	NodeSelector map[string]string `json:"nodeSelector"`
	// CPUOvercommitRatio sets CPU request = limit x ratio, in (0, 1]; at most 3 decimals.
	CPUOvercommitRatio float64 `json:"cpuOvercommitRatio,omitempty"`
	// Critical pools run at ratio 1.
	Critical bool `json:"critical,omitempty"`
	// Namespaces, when set, are the only namespaces whose pods may use the
	// pool; others are refused, so a team cannot take another's hosts.
	// Critical pools must list them.
	Namespaces []string `json:"namespaces,omitempty"`
	// Scheduler is the schedulerName given to the pool's pods that name no
	// scheduler of their own (e.g. zz-scheduler, whose extender balances
	// nodes); empty leaves the pod's.
	Scheduler string `json:"scheduler,omitempty"`
	// GPUCardMemory, the pool's largest card (80Gi on A100s of 40 and 80
	// GB), gives a container that asks for zz.io/gpu cards without
	// zz.io/gpu-mem whole cards of its own of any size up to it:
	// zz.io/gpu-mem set to it and zz.io/gpu-whole, as nvidia.com/gpu: 1
	// means one whole card. Unset, such a container is refused with its fix.
	GPUCardMemory *resource.Quantity `json:"gpuCardMemory,omitempty"`
}

// NamespaceSpec is what the policy says of one namespace.
type NamespaceSpec struct {
	// Scheduler overrides the pool's scheduler for the namespace's pods
	// (e.g. default-scheduler to keep a namespace out of zz-scheduler).
	Scheduler string `json:"scheduler"`
}

// Selector matches a pod when every listed label and annotation has the
// given value ("*" for any value). An empty selector matches every pod.
type Selector struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// LxcfsSpec switches the lxcfs mounts on.
type LxcfsSpec struct {
	Enabled bool `json:"enabled,omitempty"`
	// HostPath is where lxcfs is mounted on the nodes (default /var/lib/lxcfs).
	HostPath string `json:"hostPath,omitempty"`
}

// SidecarSpec is an admin's container template. String fields may use
// {{.Name}} (the pod's name, or its generateName prefix), {{.Namespace}},
// {{.App}}, {{.Group}} and {{index .Labels "key"}}.
type SidecarSpec struct {
	When Selector `json:"when,omitempty"`
	Init bool     `json:"init,omitempty"`
	// Required sidecars (an audit log shipper, a security agent) are not
	// the pod's to leave out: zz.io/inject-disable does not drop them, and
	// a container of theirs that the pod brings must run their image,
	// command and args.
	Required  bool             `json:"required,omitempty"`
	Container corev1.Container `json:"container"`
}

// Policy is a validated Spec, ready to mutate pods. It is immutable.
type Policy struct {
	spec        Spec
	largestMiB  int64
	permille    map[string]int64 // pool -> ratio x 1000
	reserved    []string         // pools with namespaces, sorted
	sidecars    []sidecar
	lxcfsMounts []lxcfsMount
	// down is a scheduler that cannot schedule now (WithSchedulerDown), and
	// why: pods the policy would route to it stay on the default scheduler.
	down, downWhy string
	// podSecurity is the Pod Security level the review's namespace
	// enforces when it refuses hostPath volumes (WithPodSecurity), and
	// podSecurityDefaulted whether the level is the policy's
	// podSecurityDefault, the namespace having no label.
	podSecurity          string
	podSecurityDefaulted bool
	// cpuBounds are the review's namespace's LimitRange bounds on CPU
	// requests (WithLimitRanges), nil for none; limitsUnread says why they
	// are not known, onClamp is told of each request raised to them.
	cpuBounds    *cpuBounds
	limitsUnread error
	onClamp      func(Clamp)
}

// WithLimitRanges is p for a namespace with LimitRanges l: CPU requests
// that the pool's overcommit would lower under their min cpu or past their
// maxLimitRequestRatio cpu are raised to the least they admit (never above
// the container's limit), with a warning, since the LimitRanger validates
// after the mutating webhooks and would refuse the pod (an incident audit:
// every pod of the pool refused in such a namespace). p itself where none
// bounds CPU, so the common namespace costs nothing.
func (p *Policy) WithLimitRanges(l NamespaceLimits) *Policy {
	b := cpuBoundsOf(l.Items)
	if b == nil && l.Unread == nil {
		return p
	}
	c := *p
	c.cpuBounds, c.limitsUnread, c.onClamp = b, l.Unread, l.OnClamp
	return &c
}

// WithSchedulerDown is p with scheduler name unable to schedule now (its
// leader lease lapsed, why says how): pods that the policy's namespaces or
// pools would route to it are left to the default scheduler, with a
// warning, instead of waiting Pending for it. GPU pods still go to
// contract.SchedulerName, the only scheduler that can place them. p itself
// is not changed: it is shared by the requests in flight.
func (p *Policy) WithSchedulerDown(name, why string) *Policy {
	c := *p
	c.down, c.downWhy = name, why
	return &c
}

// WithPodSecurity is p for a namespace that enforces Pod Security level
// (its contract.LabelPodSecurityEnforce label; unset: the policy's
// podSecurityDefault): p itself where the level admits every pod the
// policy makes (privileged), else a copy that leaves lxcfs out, whose
// hostPath volumes baseline and restricted refuse (Pod Security admission
// judges the pod after the webhook mutated it, so with lxcfs on every pod
// of such a namespace was refused).
func (p *Policy) WithPodSecurity(level string) *Policy {
	defaulted := level == ""
	if defaulted {
		level = p.spec.PodSecurityDefault
	}
	if !refusesHostPath(level) || !p.spec.Lxcfs.Enabled {
		return p
	}
	c := *p
	c.podSecurity, c.podSecurityDefaulted = level, defaulted
	return &c
}

// refusesHostPath is whether Pod Security level refuses hostPath volumes.
func refusesHostPath(level string) bool { return level == "baseline" || level == "restricted" }

// PodSecurityDefault is the level the policy says unlabelled namespaces
// enforce ("" when it says nothing).
func (p *Policy) PodSecurityDefault() string { return p.spec.PodSecurityDefault }

type sidecar struct {
	when      Selector
	init      bool
	required  bool
	name      string
	container corev1.Container
	tmpls     map[string]*template.Template // by the source string they render
}

// WholeCardPool is a pool with gpuCardMemory MiB: zz.io/gpu alone means
// whole cards of up to that much there.
type WholeCardPool struct {
	Name         string
	NodeSelector map[string]string
	MiB          int64
}

// WholeCardPools lists the pools with gpuCardMemory, by name.
func (p *Policy) WholeCardPools() []WholeCardPool {
	var out []WholeCardPool
	for _, name := range sortedKeys(p.spec.Pools) {
		pool := p.spec.Pools[name]
		if pool.GPUCardMemory == nil {
			continue
		}
		b, _ := pool.GPUCardMemory.AsInt64() // validated by Compile
		// Rounded up, as gpushare reads the zz.io/gpu-mem it becomes.
		out = append(out, WholeCardPool{Name: name, NodeSelector: pool.NodeSelector, MiB: (b + gpushare.MiB - 1) / gpushare.MiB})
	}
	return out
}

// DefaultPool is where the policy places pods that name no pool.
type DefaultPool struct {
	Name         string
	NodeSelector map[string]string
	// Field is the policy's field that chose it (defaultPool or defaultGPUPool).
	Field string
}

// GPUDefaultPool is the pool of a GPU pod that names none: defaultGPUPool,
// else defaultPool; false when the policy pins such pods nowhere.
func (p *Policy) GPUDefaultPool() (DefaultPool, bool) {
	name, field := p.spec.DefaultGPUPool, "defaultGPUPool"
	if name == "" {
		name, field = p.spec.DefaultPool, "defaultPool"
	}
	if name == "" {
		return DefaultPool{}, false
	}
	return DefaultPool{Name: name, NodeSelector: p.spec.Pools[name].NodeSelector, Field: field}, true
}

// OtherSchedulers maps each scheduler the policy routes pods to, other than
// zz-scheduler and the default scheduler, to the fields naming it. Such a
// name is legitimate (a cluster may run a scheduler of its own) but is also
// what a typo looks like, and a pod routed to a scheduler that does not run
// waits Pending for good: the webhook warns of these and kubectl zz check
// looks for pods no scheduler of the name has tried.
func (p *Policy) OtherSchedulers() map[string][]string {
	out := map[string][]string{}
	note := func(field, name string) {
		if name != "" && name != contract.SchedulerName && name != corev1.DefaultSchedulerName {
			out[name] = append(out[name], field)
		}
	}
	for _, name := range sortedKeys(p.spec.Pools) {
		note("pools."+name+".scheduler", p.spec.Pools[name].Scheduler)
	}
	for _, ns := range sortedKeys(p.spec.Namespaces) {
		note("namespaces."+ns+".scheduler", p.spec.Namespaces[ns].Scheduler)
	}
	return out
}

// PoolNames lists the policy's pools, by name.
func (p *Policy) PoolNames() []string { return sortedKeys(p.spec.Pools) }

// PoolRatio is a pool whose pods get CPU requests below their limits
// (request = limit × Ratio, Ratio < 1).
type PoolRatio struct {
	Name  string
	Ratio float64
	// Namespaces are the only ones whose pods may use it; none: all.
	Namespaces []string
}

// Reaches says whether pods of namespace may use the pool.
func (r PoolRatio) Reaches(namespace string) bool {
	return len(r.Namespaces) == 0 || slices.Contains(r.Namespaces, namespace)
}

// OvercommitPools lists, by name, the pools whose CPU ratio is below 1: a
// namespace's LimitRange (min cpu, maxLimitRequestRatio cpu) may refuse
// what the webhook makes of their pods' requests, as the LimitRanger
// validates after mutating webhooks (an incident audit).
func (p *Policy) OvercommitPools() []PoolRatio {
	var out []PoolRatio
	for _, name := range sortedKeys(p.spec.Pools) {
		if permille := p.permille[name]; permille < 1000 {
			out = append(out, PoolRatio{Name: name, Ratio: float64(permille) / 1000, Namespaces: p.spec.Pools[name].Namespaces})
		}
	}
	return out
}

// NodeSettablePools lists, by name, the pools reserved to namespaces whose
// nodeSelector no key of node-restriction.kubernetes.io/ guards: a node may
// set any other label on itself (NodeRestriction protects only that prefix
// and the kubernetes.io / k8s.io ones, which pools do not use), so root on
// any node can join such a pool and receive the pods reserved to it.
func (p *Policy) NodeSettablePools() []string {
	var out []string
	for _, name := range sortedKeys(p.spec.Pools) {
		pool := p.spec.Pools[name]
		if len(pool.Namespaces) == 0 {
			continue
		}
		guarded := false
		for k := range pool.NodeSelector {
			guarded = guarded || strings.HasPrefix(k, corev1.LabelNamespaceNodeRestriction+"/")
		}
		if !guarded {
			out = append(out, name)
		}
	}
	return out
}

// ErrNoPolicy means the ConfigMap lacks the policy key.
var ErrNoPolicy = errors.New("the ConfigMap has no " + contract.PolicyKey + " key; put the policy YAML under data." + contract.PolicyKey)

// FromConfigMapData decodes and validates the policy in a ConfigMap's data.
func FromConfigMapData(data map[string]string) (*Policy, error) {
	raw, ok := data[contract.PolicyKey]
	if !ok {
		return nil, ErrNoPolicy
	}
	return Parse([]byte(raw))
}

// Parse decodes a policy strictly (unknown or duplicate fields are errors)
// and validates it, naming every problem and its fix.
func Parse(raw []byte) (*Policy, error) {
	var s Spec
	if err := yaml.UnmarshalStrict(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w; see the policy format in the webhook README", contract.PolicyKey, err)
	}
	return Compile(s)
}

// Compile validates a Spec and prepares its templates.
func Compile(s Spec) (*Policy, error) {
	p := &Policy{spec: s, permille: map[string]int64{}}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if s.LargestGPUCard.IsZero() {
		bad("largestGPUCard", "missing; give the memory of the largest GPU card in the cluster, e.g. 80Gi")
	} else if b, ok := s.LargestGPUCard.AsInt64(); !ok || b < gpushare.MiB || b > gpushare.MaxMemMiB*gpushare.MiB {
		bad("largestGPUCard", "%s is not a card size between 1Mi and %dGi; write e.g. 80Gi", s.LargestGPUCard.String(), gpushare.MaxMemMiB/1024)
	} else {
		p.largestMiB = b / gpushare.MiB
	}
	for _, name := range sortedKeys(s.Pools) {
		p.permille[name] = validatePool(name, s.Pools[name], bad)
		if len(s.Pools[name].Namespaces) > 0 {
			p.reserved = append(p.reserved, name)
		}
		if q := s.Pools[name].GPUCardMemory; q != nil {
			field := "pools." + name + ".gpuCardMemory"
			if b, ok := q.AsInt64(); !ok || b < gpushare.MiB || (p.largestMiB > 0 && b > p.largestMiB*gpushare.MiB) {
				bad(field, "%s is not a card size between 1Mi and largestGPUCard (%s); write the memory of the pool's cards, e.g. 80Gi", q.String(), s.LargestGPUCard.String())
			}
		}
	}
	for _, ns := range sortedKeys(s.Namespaces) {
		field := "namespaces." + ns
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			bad(field, "namespace name: %s", strings.Join(msgs, "; "))
		}
		if s.Namespaces[ns].Scheduler == "" {
			bad(field+".scheduler", "missing; name the scheduler for the namespace's pods, e.g. %s or %s", contract.SchedulerName, corev1.DefaultSchedulerName)
		}
		validateScheduler(field+".scheduler", s.Namespaces[ns].Scheduler, bad)
	}
	for _, d := range []struct{ field, name, what string }{
		{"defaultPool", s.DefaultPool, "the default pool"},
		{"defaultGPUPool", s.DefaultGPUPool, "the default GPU pool"},
	} {
		if def, ok := s.Pools[d.name]; d.name != "" && !ok {
			bad(d.field, "%q is not in pools; use one of %v or leave it empty", d.name, sortedKeys(s.Pools))
		} else if ok && len(def.Namespaces) > 0 {
			bad(d.field, "%q is reserved to some namespaces; %s must be open to all", d.name, d.what)
		}
	}
	lxcfsPrefix := s.Lxcfs.HostPath
	if lxcfsPrefix == "" {
		lxcfsPrefix = "/var/lib/lxcfs"
	}
	if !strings.HasPrefix(lxcfsPrefix, "/") {
		bad("lxcfs.hostPath", "%q must be an absolute path on the nodes", s.Lxcfs.HostPath)
	}
	p.lxcfsMounts = lxcfsMounts(lxcfsPrefix)
	switch s.PodSecurityDefault {
	case "", "privileged", "baseline", "restricted":
	default:
		bad("podSecurityDefault", "%q is not a Pod Security level; write privileged, baseline or restricted (the apiserver's PodSecurity admission configuration's defaults.enforce), or leave it out for privileged", s.PodSecurityDefault)
	}
	for i, sc := range s.Sidecars {
		c, err := compileSidecar(sc)
		if err != nil {
			bad(fmt.Sprintf("sidecars[%d]", i), "%v", err)
			continue
		}
		if slices.ContainsFunc(p.sidecars, func(o sidecar) bool { return o.name == c.name }) {
			bad(fmt.Sprintf("sidecars[%d].container.name", i), "%q appears twice; give each sidecar its own name", c.name)
		}
		p.sidecars = append(p.sidecars, c)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid policy: %w", errors.Join(errs...))
	}
	return p, nil
}

// validatePool checks one pool and returns its ratio in thousandths.
func validatePool(name string, pool PoolSpec, bad func(field, format string, args ...any)) int64 {
	field := "pools." + name
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 {
		bad(field, "pool name: %s", strings.Join(msgs, "; "))
	}
	if len(pool.NodeSelector) == 0 {
		bad(field+".nodeSelector", "missing; give the labels of the pool's nodes, e.g. {%s: %s}", contract.LabelPool, name)
	}
	for _, k := range sortedKeys(pool.NodeSelector) {
		if msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(pool.NodeSelector[k])...); len(msgs) > 0 {
			bad(field+".nodeSelector."+k, "%s", strings.Join(msgs, "; "))
		}
	}
	for _, ns := range pool.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			bad(field+".namespaces", "%q: %s", ns, strings.Join(msgs, "; "))
		}
	}
	if pool.Critical && len(pool.Namespaces) == 0 {
		bad(field+".namespaces", "missing on a critical pool; list the namespaces allowed on it, or any tenant could label its pods into it")
	}
	validateScheduler(field+".scheduler", pool.Scheduler, bad)
	r := pool.CPUOvercommitRatio
	switch {
	case pool.Critical && r != 0 && r != 1:
		bad(field+".cpuOvercommitRatio", "%v on a critical pool; critical pools run at ratio 1: remove it or set 1", r)
	case pool.Critical:
		r = 1
	case r <= 0 || r > 1:
		bad(field+".cpuOvercommitRatio", "%v must be in (0, 1], e.g. 0.5 for requests at half the limit", r)
	case math.Abs(r*1000-math.Round(r*1000)) > 1e-9:
		bad(field+".cpuOvercommitRatio", "%v has more than 3 decimals; round it, e.g. 0.333", r)
	}
	return int64(math.Round(r * 1000))
}

// validateScheduler checks a schedulerName as the apiserver would.
func validateScheduler(field, name string, bad func(field, format string, args ...any)) {
	if name == "" {
		return
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		bad(field, "%q: %s", name, strings.Join(msgs, "; "))
	}
}

func compileSidecar(sc SidecarSpec) (sidecar, error) {
	if msgs := validation.IsDNS1123Label(sc.Container.Name); len(msgs) > 0 {
		return sidecar{}, fmt.Errorf("container.name %q: %s", sc.Container.Name, strings.Join(msgs, "; "))
	}
	if sc.Container.Image == "" {
		return sidecar{}, errors.New("container.image is missing")
	}
	s := sidecar{when: sc.When, init: sc.Init, required: sc.Required, name: sc.Container.Name, container: *sc.Container.DeepCopy(), tmpls: map[string]*template.Template{}}
	var parseErr error
	walkStrings(reflect.ValueOf(&s.container).Elem(), func(v string) string {
		if _, done := s.tmpls[v]; done || parseErr != nil || !strings.Contains(v, "{{") {
			return v
		}
		t, err := template.New("").Option("missingkey=error").Parse(v)
		if err != nil {
			parseErr = fmt.Errorf("template %q: %w", v, err)
		}
		s.tmpls[v] = t
		return v
	})
	if parseErr != nil {
		return sidecar{}, parseErr
	}
	// Render once with a sample pod, so a bad template fails here, not on a pod.
	sample := templateData{Name: "sample", Namespace: "sample", App: "app", Group: "group", Labels: map[string]string{}}
	if _, err := s.render(sample); err != nil {
		return sidecar{}, fmt.Errorf("container template does not render: %w", err)
	}
	return s, nil
}

// templateData is what sidecar templates see.
type templateData struct {
	Name, Namespace, App, Group string
	Labels                      map[string]string
}

// render executes the template of every string field of the container, on
// a copy of it.
func (s sidecar) render(d templateData) (corev1.Container, error) {
	c := *s.container.DeepCopy()
	if len(s.tmpls) == 0 {
		return c, nil
	}
	var execErr error
	walkStrings(reflect.ValueOf(&c).Elem(), func(v string) string {
		t, ok := s.tmpls[v]
		if !ok || execErr != nil {
			return v
		}
		var b strings.Builder
		if err := t.Execute(&b, d); err != nil {
			execErr = err
			return v
		}
		return b.String()
	})
	if execErr != nil {
		return corev1.Container{}, execErr
	}
	c.Name = s.name // never templated: the name makes injection idempotent
	return c, nil
}

// walkStrings replaces every exported string of v (a settable value: fields,
// elements, map values, through pointers) by f(string). The policy's
// container is typed, so a template can only sit in a string: a quantity or a
// port that is not one fails to decode before it gets here.
func walkStrings(v reflect.Value, f func(string) string) {
	switch v.Kind() {
	case reflect.String:
		if old := v.String(); v.CanSet() {
			if s := f(old); s != old {
				v.SetString(s)
			}
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), f)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if t.Field(i).IsExported() {
				walkStrings(v.Field(i), f)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkStrings(v.Index(i), f)
		}
	case reflect.Map:
		// Only maps of strings can hold a template (a container's other maps
		// are resource lists: parsed quantities). Their values are not
		// addressable: a changed one is put back.
		if v.Type().Elem().Kind() != reflect.String {
			return
		}
		iter := v.MapRange()
		for iter.Next() {
			old := iter.Value().String()
			if s := f(old); s != old {
				v.SetMapIndex(iter.Key(), reflect.ValueOf(s).Convert(v.Type().Elem()))
			}
		}
	}
}

// sortedKeys is m's keys in order, in one allocation (the webhook's diff
// runs it on every review).
func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Matches reports whether the selector matches the pod's labels and annotations.
func (s *Selector) Matches(pod *corev1.Pod) bool {
	return matchMap(s.Labels, pod.Labels) && matchMap(s.Annotations, pod.Annotations)
}

func matchMap(want, have map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || (v != "*" && v != got) {
			return false
		}
	}
	return true
}
