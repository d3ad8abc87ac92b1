// Package specfrom writes the app spec that renders (nearly) what a
// Deployment and the objects around it already run, so an app deployed
// with kubectl apply or Helm moves to kubectl zz deploy --adopt without its
// spec being written by hand. It is pure: the objects come in, the spec and
// what it could not say go out.
package specfrom

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// Live is what runs: a Deployment and, where they exist, the Service,
// Ingress, HPA and PodDisruptionBudget that belong to it.
type Live struct {
	Deployment *appsv1.Deployment
	Service    *corev1.Service
	Ingress    *networkingv1.Ingress
	HPA        *autoscalingv2.HorizontalPodAutoscaler
	PDB        *policyv1.PodDisruptionBudget
	// ConfigMaps are the ConfigMaps the app container mounts, by name
	// (those that could be read).
	ConfigMaps map[string]*corev1.ConfigMap
}

// Spec returns the app spec for l (named app), and a line for each thing
// the spec cannot say, which kubectl zz deploy would drop or change.
func Spec(app string, l Live) (*appspec.App, []string) {
	f := build(app, l)
	return f.app, f.notes
}

// Refusal says why no spec may be written for l, nil if one may: one
// whose Service would reach the app past a proxy it reaches now.
func Refusal(app string, l Live) error {
	return build(app, l).refused
}

func build(app string, l Live) *from {
	d := l.Deployment
	pod := d.Spec.Template.Spec
	f := &from{app: &appspec.App{APIVersion: appspec.APIVersion, Kind: appspec.Kind, Name: app}, svc: l.Service, podSpec: pod}
	s := &f.app.Spec
	if len(pod.Containers) == 0 {
		f.lost("deployment %s has no container", d.Name)
		return f
	}
	if sel := d.Spec.Selector; sel == nil || len(sel.MatchExpressions) > 0 || len(sel.MatchLabels) != 1 || sel.MatchLabels[contract.LabelApp] != app {
		// A Deployment's selector cannot change: adopting this one means
		// making it anew (its pods replaced), or running the app beside it
		// under another name until the Service is switched.
		f.lost("deployment %s selects its pods by %s, kubectl zz by %s=%s, and a selector cannot change: deploy --adopt refuses it; delete it and deploy (its pods are replaced), or deploy under another --name beside it first", d.Name, metav1.FormatLabelSelector(sel), contract.LabelApp, app)
	}
	c := pod.Containers[0]
	s.Image = c.Image
	// The version only where it is not the image's tag (the default): written
	// out, it stayed as the image moved on (deploy --set spec.image=...:1.4.4
	// recorded version 1.4.2 in history, status and the version labels; an
	// adoption audit). Read as appspec reads the tag: image:1.0@sha256:...
	// gave the digest's hex as the version, a spec that did not validate.
	if v := d.Labels[contract.LabelK8sVersion]; v != "" && v != appspec.ImageTag(c.Image) {
		s.Version = v
	}
	s.Replicas = d.Spec.Replicas
	f.minReady(d)
	s.Command, s.Args = c.Command, c.Args
	f.resources(c)
	c = f.undeclaredPort(c, l.Service)
	f.ports(c, l.Service)
	f.probes(c, l.Ingress != nil)
	f.env(c)
	f.volumes(pod, c, l.ConfigMaps)
	f.initContainers(pod, c)
	f.sidecars(pod, c)
	f.front(l.Service, l.Ingress, c)
	f.pod(pod)
	f.security(pod, c)
	f.sidecarSecurity(pod)
	f.zoneSpread(d)
	f.affinity(d)
	f.meta(d)
	if l.HPA != nil {
		f.hpa(l.HPA, c)
	}
	f.pdb(l.PDB)
	f.ingress(l.Ingress)
	if pool := pod.NodeSelector[contract.LabelPool]; pool != "" {
		s.Pool = pool
	}
	for k := range pod.NodeSelector {
		if k != contract.LabelPool {
			f.lost("nodeSelector %s: where pods run is spec.pool (zz.io/pool) here", k)
		}
	}
	if len(pod.Tolerations) > 0 {
		f.lost("tolerations: the webhook's pool policy keeps pools on their nodes")
	}
	f.names(c)
	f.ownTimings(c)
	return f
}

// names: the container and its port are named as kubectl zz names them;
// what selects them by the old name (kubectl logs -c, a ServiceMonitor's
// port, a mesh's protocol by port name) must follow (an app-developer
// audit saw grpc become rpc unsaid).
func (f *from) names(c corev1.Container) {
	if c.Name != render.ContainerName {
		f.lost("container %s is named %s here (kubectl logs -c, dashboards and alerts by container name must follow)", c.Name, render.ContainerName)
	}
	if len(c.Ports) == 0 || c.Ports[0].Name == "" {
		return
	}
	if port := render.PortName(f.app.Spec.Type); c.Ports[0].Name != port {
		f.lost("port %s (%d) is named %s here, on the container and the Service (a ServiceMonitor or a mesh that reads the port's name must follow)", c.Ports[0].Name, c.Ports[0].ContainerPort, port)
	}
}

type from struct {
	app   *appspec.App
	notes []string
	// readyOn are the sidecars whose one probe is a TCP readiness connect,
	// by name, with its port: as kubectl zz renders a front port's, so
	// carried when it is on the port the Service targets, said otherwise.
	readyOn map[string]intstr.IntOrString
	svc     *corev1.Service // the app's, if any
	// refused, if set, is why no spec may be written.
	refused error
	podSpec corev1.PodSpec
}

func (f *from) lost(format string, a ...any) { f.notes = append(f.notes, fmt.Sprintf(format, a...)) }

// pdb: a budget is pdb: true, which renders maxUnavailable: 1; any other
// bound is said. minAvailable: 1 was carried unsaid, and with the HPA at 6
// pods the budget then let 1 pod go at a time where it had let 5 (an
// adoption audit).
func (f *from) pdb(p *policyv1.PodDisruptionBudget) {
	if p == nil {
		return
	}
	f.app.Spec.PDB = true
	switch one := intstr.FromInt32(1); {
	case p.Spec.MinAvailable != nil:
		f.lost("poddisruptionbudget %s: minAvailable %s; pdb: true is maxUnavailable 1 (one pod of the app down at a time, whatever the replicas)", p.Name, p.Spec.MinAvailable.String())
	case p.Spec.MaxUnavailable != nil && *p.Spec.MaxUnavailable != one:
		f.lost("poddisruptionbudget %s: maxUnavailable %s; pdb: true is maxUnavailable 1", p.Name, p.Spec.MaxUnavailable.String())
	}
	if p.Spec.UnhealthyPodEvictionPolicy != nil {
		f.lost("poddisruptionbudget %s: unhealthyPodEvictionPolicy %s has no field (the apiserver's default applies)", p.Name, *p.Spec.UnhealthyPodEvictionPolicy)
	}
}

// hpa: the range, and a CPU utilization target of the pods or of the app
// container (as kubectl zz renders it) as cpuPercent; other metrics have no
// field.
func (f *from) hpa(h *autoscalingv2.HorizontalPodAutoscaler, c corev1.Container) {
	container := c.Name
	s := &f.app.Spec
	s.HPA = &appspec.HPA{Min: 1, Max: h.Spec.MaxReplicas}
	if m := h.Spec.MinReplicas; m != nil {
		s.HPA.Min = *m
	}
	s.Replicas = nil
	if len(h.Spec.Metrics) == 0 {
		// The HPA controller's default: 80% of the CPU request.
		s.HPA.CPUPercent = 80
	}
	for _, m := range h.Spec.Metrics {
		var name corev1.ResourceName
		var target autoscalingv2.MetricTarget
		switch {
		case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
			name, target = m.Resource.Name, m.Resource.Target
		case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil && m.ContainerResource.Container == container:
			name, target = m.ContainerResource.Name, m.ContainerResource.Target
		}
		if name == corev1.ResourceCPU && target.Type == autoscalingv2.UtilizationMetricType && target.AverageUtilization != nil && s.HPA.CPUPercent == 0 {
			s.HPA.CPUPercent = *target.AverageUtilization
			continue
		}
		f.lost("horizontalpodautoscaler %s: metric %s; the spec's HPA scales on one CPU utilization target (spec.hpa.cpuPercent)", h.Name, metricName(m))
	}
	// kubectl zz scales at cpuPercent of spec.cpu, the limit here; the HPA
	// did at a share of the request: the same CPU per pod is kept (an
	// app-developer audit saw the threshold rise fourfold).
	req := c.Resources.Requests.Cpu()
	if cpu, err := resource.ParseQuantity(s.CPU); err == nil && s.HPA.CPUPercent > 0 && !req.IsZero() && !cpu.IsZero() && req.Cmp(cpu) < 0 {
		was := s.HPA.CPUPercent
		s.HPA.CPUPercent = int32(max(1, min(100, (int64(was)*req.MilliValue()+cpu.MilliValue()/2)/cpu.MilliValue())))
		if then, now := int64(was)*req.MilliValue()/100, int64(s.HPA.CPUPercent)*cpu.MilliValue()/100; then <= cpu.MilliValue() {
			f.lost("horizontalpodautoscaler %s: %d%% of the cpu request %s is cpuPercent %d of spec.cpu %s (the same %dm a pod)", h.Name, was, req, s.HPA.CPUPercent, s.CPU, then)
		} else {
			// Past the limit: it scaled at more CPU than a pod may have.
			f.lost("horizontalpodautoscaler %s: %d%% of the cpu request %s (%dm a pod) is past spec.cpu %s: cpuPercent 100 scales at %dm", h.Name, was, req, then, s.CPU, now)
		}
	}
	if b := h.Spec.Behavior; b != nil && (b.ScaleUp != nil || b.ScaleDown != nil) {
		f.lost("horizontalpodautoscaler %s: its scaling behavior has no field (the HPA controller's defaults apply)", h.Name)
	}
}

// metricName says which metric an HPA metric is, as kubectl describe hpa.
func metricName(m autoscalingv2.MetricSpec) string {
	switch {
	case m.Resource != nil:
		return fmt.Sprintf("resource %s (%s)", m.Resource.Name, strings.ToLower(string(m.Resource.Target.Type)))
	case m.ContainerResource != nil:
		return fmt.Sprintf("resource %s of container %s", m.ContainerResource.Name, m.ContainerResource.Container)
	case m.Pods != nil:
		return "pods " + m.Pods.Metric.Name
	case m.Object != nil:
		return "object " + m.Object.Metric.Name
	case m.External != nil:
		return "external " + m.External.Metric.Name
	}
	return string(m.Type)
}

// limitOrRequest is c's limit of name, else its request, "" if neither
// (the spec's cpu and memory are both: the limit is what the app may use).
func limitOrRequest(c corev1.Container, name corev1.ResourceName) string {
	if q, ok := c.Resources.Limits[name]; ok {
		return q.String()
	}
	if q, ok := c.Resources.Requests[name]; ok {
		return q.String()
	}
	return ""
}

// resources: the spec sets requests = limits; the limits are kept where
// set, else the requests.
func (f *from) resources(c corev1.Container) {
	s := &f.app.Spec
	s.CPU, s.Memory = limitOrRequest(c, corev1.ResourceCPU), limitOrRequest(c, corev1.ResourceMemory)
	lim, req := c.Resources.Limits, c.Resources.Requests
	if !lim.Cpu().IsZero() && !req.Cpu().IsZero() && lim.Cpu().Cmp(*req.Cpu()) != 0 {
		f.lost("container %s: cpu request %s below its limit %s; the spec's cpu is both", c.Name, req.Cpu(), lim.Cpu())
	}
	if !lim.Memory().IsZero() && !req.Memory().IsZero() && lim.Memory().Cmp(*req.Memory()) != 0 {
		f.lost("container %s: memory request %s below its limit %s; the spec's memory is both (each pod reserves %s)", c.Name, req.Memory(), lim.Memory(), lim.Memory())
	}
	if q, ok := c.Resources.Limits[contract.ResourceGPUMem]; ok {
		s.GPUMem = q.String()
	}
	if q, ok := c.Resources.Limits[contract.ResourceGPU]; ok && q.Value() > 1 {
		n := int32(q.Value())
		s.GPUs = &n
	}
}

// undeclaredPort is c with the port its Service sends to where c declares
// none (declaring one is optional: kubectl create deployment without
// --port, then kubectl expose) and runs alone in the pod, so that port is
// its: read as a worker, the spec had no port and no Service, unsaid (an
// app-developer audit). Beside other containers the one that listens cannot
// be told (front refuses it). A Service it cannot read a number from (a
// port name no container declares) is said not carried.
func (f *from) undeclaredPort(c corev1.Container, svc *corev1.Service) corev1.Container {
	if len(c.Ports) > 0 || svc == nil || len(f.otherContainers()) > 0 {
		return c
	}
	for _, p := range svcPorts(svc) {
		if t := target(p); t.Type == intstr.Int && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
			f.lost("container %s declares no port; service %s sends its port %d to port %d, so that is the app's: spec.port %d (declared on the container here)", c.Name, svc.Name, p.Port, t.IntVal, t.IntVal)
			c.Ports = []corev1.ContainerPort{{ContainerPort: t.IntVal}}
			return c
		}
	}
	f.lost("service %s is not carried: container %s declares no port, so the spec is a worker, which has no Service; declare the port (containerPort) the Service sends to and run init --from again", svc.Name, c.Name)
	return c
}

// ports: the first container port is the app's, the others extra named
// ports; the Service's type and annotations are kept.
func (f *from) ports(c corev1.Container, svc *corev1.Service) {
	s := &f.app.Spec
	if len(c.Ports) == 0 {
		s.Type = appspec.TypeWorker
		return
	}
	s.Port = c.Ports[0].ContainerPort
	for _, p := range c.Ports[1:] {
		if p.Name == "" {
			f.lost("container port %d has no name: extra ports are named in the spec", p.ContainerPort)
			continue
		}
		proto := ""
		if p.Protocol == corev1.ProtocolUDP {
			proto = string(corev1.ProtocolUDP)
		}
		s.Ports = append(s.Ports, appspec.Port{Name: p.Name, Port: p.ContainerPort, Protocol: proto})
	}
	if svc == nil {
		return
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP && svc.Spec.Type != "" {
		s.Service = &appspec.Service{Type: string(svc.Spec.Type), ExternalTrafficPolicy: string(svc.Spec.ExternalTrafficPolicy),
			LoadBalancerSourceRanges: svc.Spec.LoadBalancerSourceRanges, Annotations: foreignAnnotations(svc.Annotations)}
		if s.Service.ExternalTrafficPolicy == string(corev1.ServiceExternalTrafficPolicyCluster) {
			s.Service.ExternalTrafficPolicy = ""
		}
	}
	// The Service's port to the app's: by number, by the container port's
	// name (charts' targetPort: http, where it went unsaid: an
	// app-developer audit), or by its own number when targetPort is unset.
	for _, p := range svc.Spec.Ports {
		if !targets(p, c) || p.Port == s.Port {
			continue
		}
		if s.Service == nil {
			s.Service = &appspec.Service{}
		}
		if s.Service.Port != 0 {
			f.lost("service %s: port %d to the container's port %d too; the Service has one port for it (spec.service.port %d)", svc.Name, p.Port, s.Port, s.Service.Port)
			continue
		}
		s.Service.Port = p.Port
	}
}

// probes choose the type: an HTTP readiness probe is web (its path the
// health path), a gRPC one rpc with healthCheck grpc, a TCP one rpc, an
// exec one spec.healthCommand on any type (web where the port is named
// http or an Ingress reaches it, else rpc; a worker's without a port).
// ingress says an Ingress reaches the app.
func (f *from) probes(c corev1.Container, ingress bool) {
	s := &f.app.Spec
	if h := c.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Exec != nil {
		s.PreStop = h.PreStop.Exec.Command // a worker's too
	}
	p := c.ReadinessProbe
	if p == nil {
		p = c.LivenessProbe
	}
	worker := s.Type == appspec.TypeWorker
	switch {
	case worker && p != nil && p.Exec == nil:
		f.lost("container %s: its %s probe %s; a worker has no port to check: its check is spec.healthCommand, a command", c.Name, probeKind(c, p), checkWords(p.ProbeHandler))
		return
	case worker && p == nil:
		return
	case p == nil:
		s.Type = appspec.TypeRPC
		f.lost("container %s has no readiness probe: kubectl zz adds one (a TCP connect for rpc; change type to web and set healthPath for HTTP, or set healthCommand for a command)", c.Name)
	case p.Exec != nil:
		s.HealthCommand = slices.Clone(p.Exec.Command)
		if !worker {
			s.Type = appspec.TypeRPC
			if ingress || c.Ports[0].Name == render.PortName(appspec.TypeWeb) {
				s.Type = webOrJava(c)
			}
		}
	case p.HTTPGet != nil:
		s.Type, s.HealthPath = webOrJava(c), p.HTTPGet.Path
		if s.HealthPath == "" {
			s.HealthPath = "/"
		}
	case p.GRPC != nil:
		s.Type, s.HealthCheck = appspec.TypeRPC, appspec.HealthCheckGRPC
	default:
		s.Type = appspec.TypeRPC
	}
	if c.StartupProbe != nil {
		total := int64(c.StartupProbe.PeriodSeconds) * int64(max(c.StartupProbe.FailureThreshold, 1))
		if total > 0 {
			s.StartupTimeout = fmt.Sprintf("%ds", total)
		}
	}
	// The spec's one health check serves every probe, with kubectl zz's
	// timings (startupTimeout covers a slow start).
	if l := c.LivenessProbe; l != nil && l.HTTPGet != nil && s.HealthPath != "" && cmp.Or(l.HTTPGet.Path, "/") != s.HealthPath {
		f.lost("container %s: liveness probe path %s; the spec's healthPath %s serves the liveness probe too", c.Name, l.HTTPGet.Path, s.HealthPath)
	}
	for _, o := range []struct {
		kind  string
		probe *corev1.Probe
	}{{"liveness", c.LivenessProbe}, {"startup", c.StartupProbe}} {
		if o.probe != nil && p != nil && (o.probe.Exec != nil || p.Exec != nil) && !equality.Semantic.DeepEqual(o.probe.ProbeHandler, p.ProbeHandler) {
			f.lost("container %s: %s probe %s; the spec's %s serves the %s probe too", c.Name, o.kind, checkWords(o.probe.ProbeHandler), specCheck(s), o.kind)
		}
	}
	f.healthTimeout(c)
}

// webOrJava is the type of an app container checked over HTTP: java where
// the JVM reads the options kubectl zz sets for java.
func webOrJava(c corev1.Container) appspec.Type {
	if slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "JAVA_TOOL_OPTIONS" }) {
		return appspec.TypeJava
	}
	return appspec.TypeWeb
}

// probeKind is which of c's probes p is.
func probeKind(c corev1.Container, p *corev1.Probe) string {
	if p == c.ReadinessProbe {
		return "readiness"
	}
	return "liveness"
}

// checkWords says what probe handler h checks, as kubectl describe pod
// does ("exec [pg_isready -U app]", "http-get /healthz on port 8080").
func checkWords(h corev1.ProbeHandler) string {
	switch {
	case h.Exec != nil:
		return fmt.Sprintf("exec %q", h.Exec.Command)
	case h.HTTPGet != nil:
		return fmt.Sprintf("http-get %s on port %s", cmp.Or(h.HTTPGet.Path, "/"), h.HTTPGet.Port.String())
	case h.TCPSocket != nil:
		return "tcp-socket on port " + h.TCPSocket.Port.String()
	case h.GRPC != nil:
		return fmt.Sprintf("grpc on port %d", h.GRPC.Port)
	}
	return "of no kind"
}

// specCheck names the one health check spec s renders.
func specCheck(s *appspec.Spec) string {
	switch {
	case s.HealthCommand != nil:
		return fmt.Sprintf("healthCommand %q", s.HealthCommand)
	case s.HealthPath != "":
		return "healthPath " + s.HealthPath
	case s.HealthCheck == appspec.HealthCheckGRPC:
		return "healthCheck grpc"
	}
	return "TCP connect (rpc)"
}

// ownTimings says what of the probes' timings and the preStop hook the spec
// cannot say, comparing them with what kubectl zz renders for the spec
// inferred: a Deployment kubectl zz rendered (or a chart started from its
// --dry-run -o yaml) was told its own probes and 10 s drain were lost,
// where the round trip is exact (an audit of CI use). Run last, once the
// spec is whole.
func (f *from) ownTimings(c corev1.Container) {
	if f.app.Spec.Type == appspec.TypeWorker && f.app.Spec.HealthCommand == nil {
		return
	}
	own := f.rendered()
	for _, p := range []struct{ live, own *corev1.Probe }{{c.ReadinessProbe, own.ReadinessProbe}, {c.LivenessProbe, own.LivenessProbe}} {
		if p.live != nil && (p.live.InitialDelaySeconds != 0 || p.live.PeriodSeconds > max(10, period(p.own)) || p.live.FailureThreshold > 3) && !sameTimings(p.live, p.own) {
			f.lost("container %s: its probes' timings (initial delay, period, failure threshold) are kubectl zz's; spec.startupTimeout gives a slow start its time", c.Name)
			break
		}
	}
	if h := c.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Exec == nil &&
		(own.Lifecycle == nil || !equality.Semantic.DeepEqual(h.PreStop, own.Lifecycle.PreStop)) {
		f.lost("container %s: a preStop hook other than a command; spec.preStop runs a command", c.Name)
	}
}

// rendered is the app container kubectl zz renders for the spec inferred
// so far (defaults filled, as deploy fills them).
func (f *from) rendered() corev1.Container {
	app := f.app.Clone()
	app.Default()
	for _, o := range render.Render(app, render.Options{}) {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == app.Name {
			for _, c := range d.Spec.Template.Spec.Containers {
				if c.Name == render.ContainerName {
					return c
				}
			}
		}
	}
	return corev1.Container{}
}

// period is p's period, 0 without p.
func period(p *corev1.Probe) int32 {
	if p == nil {
		return 0
	}
	return p.PeriodSeconds
}

// sameTimings says whether probe a runs on b's timings, a field left 0
// counting as the apiserver's default.
func sameTimings(a, b *corev1.Probe) bool {
	if a == nil || b == nil {
		return a == b
	}
	norm := func(p *corev1.Probe) [4]int32 {
		return [4]int32{p.InitialDelaySeconds, cmp.Or(p.TimeoutSeconds, 1), cmp.Or(p.PeriodSeconds, 10), cmp.Or(p.FailureThreshold, 3)}
	}
	return norm(a) == norm(b)
}

// healthTimeout carries the probes' timeout as spec.healthTimeout unless
// each is kubectl zz's (appspec.ProbeTimings: readiness and startup 2 s,
// liveness 3 s): the longest, for all (a slow health endpoint needs it on
// each), said when they differed; one over the spec's bound is said. A
// shorter one is carried too (healthTimeout 1s and 2s came back as zz's
// 2 s and 3 s), the kubelet's untuned 1 s as well: it is what runs.
func (f *from) healthTimeout(c corev1.Container) {
	ready, live := appspec.ProbeTimings("")
	own, most := true, int32(0)
	var all []int32
	for _, p := range []struct {
		probe *corev1.Probe
		zz    int32
	}{{c.ReadinessProbe, ready.Timeout}, {c.LivenessProbe, live.Timeout}, {c.StartupProbe, ready.Timeout}} {
		if p.probe == nil {
			continue
		}
		t := max(p.probe.TimeoutSeconds, 1) // the kubelet's default
		own, most = own && t == p.zz, max(most, t)
		all = append(all, t)
	}
	switch {
	case own:
	case time.Duration(most)*time.Second > appspec.MaxHealthTimeout:
		f.lost("container %s: a probe timeout of %ds; spec.healthTimeout is at most %s", c.Name, most, appspec.MaxHealthTimeout)
	default:
		f.app.Spec.HealthTimeout = fmt.Sprintf("%ds", most)
		if slices.Min(all) != most {
			f.lost("container %s: probe timeouts from %ds to %ds; spec.healthTimeout %ds applies to each", c.Name, slices.Min(all), most, most)
		}
	}
}

// envOf is a container's env as the spec holds it (the app's, a
// sidecar's): values, and Secret keys (secretEnv), nil where there are
// none. A ConfigMap key or a field reference has no field, and a Secret
// key marked optional is carried as secretEnv's, which is not: each said,
// after who ("sidecar proxy: ").
func (f *from) envOf(env []corev1.EnvVar, who string) (map[string]string, map[string]appspec.SecretKey) {
	var values map[string]string
	var secrets map[string]appspec.SecretKey
	for _, e := range env {
		switch ref := e.ValueFrom; {
		case ref == nil:
			if values == nil {
				values = map[string]string{}
			}
			values[e.Name] = e.Value
		case ref.SecretKeyRef != nil:
			if secrets == nil {
				secrets = map[string]appspec.SecretKey{}
			}
			secrets[e.Name] = appspec.SecretKey{Secret: ref.SecretKeyRef.Name, Key: ref.SecretKeyRef.Key}
			if ptr.Deref(ref.SecretKeyRef.Optional, false) {
				f.lost("%senv %s: an optional Secret key; secretEnv's is not: the pods wait until secret %s has key %s", who, e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
			}
		default:
			f.lost("%senv %s: only values and Secret keys (secretEnv) have a field; a ConfigMap key or a field reference does not", who, e.Name)
		}
	}
	return values, secrets
}

// meta: the pod template's own labels (not the selector's, nor the keys
// kubectl zz sets) and annotations (not tools') go on every object and the
// pod template, as spec.labels and spec.annotations (a Prometheus scrape
// annotation went unsaid: an app-developer audit).
func (f *from) meta(d *appsv1.Deployment) {
	s := &f.app.Spec
	for k, v := range d.Spec.Template.Labels {
		// Helm's own (helm.sh/chart) say which chart made it: not the app's.
		if d.Spec.Selector != nil && d.Spec.Selector.MatchLabels[k] != "" || strings.HasPrefix(k, contract.Prefix) || strings.HasPrefix(k, "helm.sh/") ||
			k == contract.LabelK8sName || k == contract.LabelK8sVersion || k == contract.LabelK8sManagedBy {
			continue
		}
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[k] = v
	}
	s.Annotations = foreignAnnotations(d.Spec.Template.Annotations)
}

// env: values, Secret keys and envFrom; ConfigMap keys and field refs
// have no field.
func (f *from) env(c corev1.Container) {
	s := &f.app.Spec
	s.Env, s.SecretEnv = f.envOf(c.Env, "")
	for _, e := range c.EnvFrom {
		switch {
		case e.SecretRef != nil:
			s.EnvFrom = append(s.EnvFrom, appspec.EnvFrom{Secret: e.SecretRef.Name, Prefix: e.Prefix})
		case e.ConfigMapRef != nil:
			s.EnvFrom = append(s.EnvFrom, appspec.EnvFrom{ConfigMap: e.ConfigMapRef.Name, Prefix: e.Prefix})
		}
	}
}

// volumes: Secret volumes become secretFiles, one claim pvc, one whole
// ConfigMap configFiles at configDir (its files read from cms), emptyDirs
// scratch.
func (f *from) volumes(pod corev1.PodSpec, c corev1.Container, cms map[string]*corev1.ConfigMap) {
	s := &f.app.Spec
	byName := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		byName[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := byName[m.Name]
		switch {
		case !ok:
		case v.Secret != nil && m.SubPath == "":
			s.SecretFiles = append(s.SecretFiles, f.secretFile(v, m))
		case v.PersistentVolumeClaim != nil && s.PVC == nil:
			s.PVC = &appspec.PVC{MountPath: m.MountPath, Size: "1Gi"}
			f.lost("volume %s: claim %s becomes the spec's own claim %s-data; set pvc.size and accessMode (and storageClass) to what it needs, and move the data", v.Name, v.PersistentVolumeClaim.ClaimName, f.app.Name)
		case v.ConfigMap != nil:
			f.configFiles(v, m, cms[v.ConfigMap.Name])
		case v.EmptyDir != nil:
			f.scratch(v, m, c.VolumeMounts)
		default:
			f.lost("volume %s at %s has no field in the spec", v.Name, m.MountPath)
		}
	}
	f.sizeMemoryScratch(c.VolumeMounts)
	f.unmountedEmptyDirs(pod, c)
}

// secretFile is Secret volume v mounted whole at m as a secretFiles entry
// (the app's or a sidecar's); a key mounted under another file name is said.
func (f *from) secretFile(v corev1.Volume, m corev1.VolumeMount) appspec.SecretFile {
	sf := appspec.SecretFile{Secret: v.Secret.SecretName, MountPath: m.MountPath}
	for _, it := range v.Secret.Items {
		if it.Path != it.Key {
			f.lost("volume %s: key %s as file %s; secretFiles names each file as its key", v.Name, it.Key, it.Path)
		}
		sf.Keys = append(sf.Keys, it.Key)
	}
	return sf
}

// configFiles: the files of a ConfigMap mounted whole (every key a file
// of its name) are the spec's configFiles, in a ConfigMap kubectl zz makes;
// one such mount has a field.
func (f *from) configFiles(v corev1.Volume, m corev1.VolumeMount, cm *corev1.ConfigMap) {
	s := &f.app.Spec
	src := v.ConfigMap
	switch {
	case s.ConfigFiles != nil:
		f.lost("volume %s: ConfigMap %s at %s; the spec mounts one ConfigMap of files (spec.configFiles, already %s)", v.Name, src.Name, m.MountPath, s.ConfigDir)
	case m.SubPath != "" || len(src.Items) > 0:
		f.lost("volume %s: some files of ConfigMap %s at %s; spec.configFiles mounts every file at spec.configDir", v.Name, src.Name, m.MountPath)
	case cm == nil:
		f.lost("volume %s: ConfigMap %s at %s could not be read; put its files in spec.configFiles, and configDir: %s", v.Name, src.Name, m.MountPath, m.MountPath)
	case len(cm.BinaryData) > 0:
		f.lost("volume %s: ConfigMap %s at %s holds binary files; spec.configFiles holds text", v.Name, src.Name, m.MountPath)
	case len(cm.Data) == 0:
		f.lost("volume %s: ConfigMap %s at %s is empty", v.Name, src.Name, m.MountPath)
	default:
		if m := src.DefaultMode; m != nil && *m != corev1.ConfigMapVolumeSourceDefaultMode {
			// A script mounted executable comes back 0644 (a review).
			f.lost("volume %s: files of mode %#o; spec.configFiles are 0644: run a script with its interpreter (command: [sh, /path])", v.Name, *m)
		}
		s.ConfigFiles = maps.Clone(cm.Data)
		if m.MountPath != appspec.DefaultConfigDir {
			s.ConfigDir = m.MountPath
		}
		f.lost("volume %s: ConfigMap %s itself; its files are spec.configFiles, in a ConfigMap kubectl zz makes (%s-config-<hash>), and %s stays until you delete it", v.Name, src.Name, f.app.Name, src.Name)
	}
}

// initContainers: the first that runs to completion, in the app's image,
// becomes initCommand (native sidecars are spec.sidecars).
func (f *from) initContainers(pod corev1.PodSpec, c corev1.Container) {
	first := true
	for _, in := range pod.InitContainers {
		if contract.IsNativeSidecar(in) {
			continue
		}
		i := first
		first = false
		if i && in.Image == c.Image && len(in.Command) > 0 {
			f.app.Spec.InitCommand = slices.Concat(in.Command, in.Args)
			// It runs with the app's env, files and resources.
			if !equality.Semantic.DeepEqual(in.Env, c.Env) || !equality.Semantic.DeepEqual(in.EnvFrom, c.EnvFrom) {
				f.lost("init container %s: its own env; spec.initCommand runs with the app's env and envFrom", in.Name)
			}
			continue
		}
		f.lost("init container %s: only one running the app's image (spec.initCommand) has a field", in.Name)
	}
}

// minReady carries the Deployment's minReadySeconds, at most
// appspec.MaxMinReadySeconds (a longer one is cut, and said).
func (f *from) minReady(d *appsv1.Deployment) {
	m := d.Spec.MinReadySeconds
	if m > appspec.MaxMinReadySeconds {
		f.lost("minReadySeconds %d: spec.minReadySeconds is at most %d (1h), so it is carried as %d", m, appspec.MaxMinReadySeconds, appspec.MaxMinReadySeconds)
		m = appspec.MaxMinReadySeconds
	}
	f.app.Spec.MinReadySeconds = max(m, 0)
}

// pod: its account, pull secrets, priority and grace.
func (f *from) pod(pod corev1.PodSpec) {
	s := &f.app.Spec
	if pod.ServiceAccountName != "" && pod.ServiceAccountName != "default" {
		s.ServiceAccount = pod.ServiceAccountName
	}
	for _, ps := range pod.ImagePullSecrets {
		s.ImagePullSecrets = append(s.ImagePullSecrets, ps.Name)
	}
	s.PriorityClassName = pod.PriorityClassName
	if g := pod.TerminationGracePeriodSeconds; g != nil && *g != 30 {
		s.TerminationGracePeriod = fmt.Sprintf("%ds", *g)
	}
}

func (f *from) ingress(in *networkingv1.Ingress) {
	if in == nil || len(in.Spec.Rules) == 0 || in.Spec.Rules[0].HTTP == nil || len(in.Spec.Rules[0].HTTP.Paths) == 0 {
		return
	}
	r := in.Spec.Rules[0]
	ing := &appspec.Ingress{Host: r.Host, Path: r.HTTP.Paths[0].Path, Annotations: foreignAnnotations(in.Annotations)}
	if in.Spec.IngressClassName != nil {
		ing.ClassName = *in.Spec.IngressClassName
	}
	for _, t := range in.Spec.TLS {
		if slices.Contains(t.Hosts, r.Host) {
			ing.TLSSecret = t.SecretName
		}
	}
	if len(in.Spec.Rules) > 1 || len(r.HTTP.Paths) > 1 {
		f.lost("ingress %s: only its first host and path have a field", in.Name)
	}
	f.app.Spec.Ingress = ing
}

// foreignAnnotations are the annotations a user set (a controller's
// settings), not the ones tools keep for themselves.
func foreignAnnotations(a map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		if strings.HasPrefix(k, "kubectl.kubernetes.io/") || strings.HasPrefix(k, "meta.helm.sh/") || strings.HasPrefix(k, "deployment.kubernetes.io/") || strings.HasPrefix(k, contract.Prefix) {
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
