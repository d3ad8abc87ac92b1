package specfrom

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/render"
)

// sidecars carries the pod's native sidecars, then its containers other
// than the app's, into spec.sidecars. A plain second container becomes a
// native sidecar, said: it then starts before the app and stops after it,
// which is what a proxy or a log shipper beside an app wants, and the one
// way the spec runs a second container; refusing it would leave the whole
// app to be written by hand.
func (f *from) sidecars(pod corev1.PodSpec, app corev1.Container) {
	seenInit := false
	for _, c := range pod.InitContainers {
		if !contract.IsNativeSidecar(c) {
			seenInit = true
			continue
		}
		if seenInit {
			f.lost("init container %s: a native sidecar after a plain init container; spec.sidecars start before every init container (initCommand's too)", c.Name)
		}
		f.sidecar(c, app, pod.Volumes)
	}
	for _, c := range pod.Containers[1:] {
		f.lost("container %s: carried as spec.sidecars (a native sidecar): it now starts before the app and initCommand, and stops after the app", c.Name)
		f.sidecar(c, app, pod.Volumes)
	}
}

// sidecar carries one container into spec.sidecars: its name, image,
// command, args, env and Secret env (as the app's), CPU and memory, named ports and the mounts it
// shares with the app container (the same volume whole at the same path);
// what else it has is said.
func (f *from) sidecar(c, app corev1.Container, volumes []corev1.Volume) {
	sc := appspec.Sidecar{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args}
	// ZZ_APP_PORT is kubectl zz's own, rendered again from spec.port.
	env := slices.DeleteFunc(slices.Clone(c.Env), func(e corev1.EnvVar) bool { return e.Name == contract.EnvAppPort })
	sc.Env, sc.SecretEnv = f.envOf(env, "sidecar "+c.Name+": ")
	if len(c.EnvFrom) > 0 {
		f.lost("sidecar %s: envFrom; a sidecar has none: list the keys it needs in its secretEnv (or env)", c.Name)
	}
	sc.CPU, sc.Memory = limitOrRequest(c, corev1.ResourceCPU), limitOrRequest(c, corev1.ResourceMemory)
	// Rendered with requests = limits (the pod's QoS class stays the
	// app's): a lower request is raised, said as the app's is.
	lim, req := c.Resources.Limits, c.Resources.Requests
	if !lim.Cpu().IsZero() && !req.Cpu().IsZero() && lim.Cpu().Cmp(*req.Cpu()) != 0 {
		f.lost("sidecar %s: cpu request %s below its limit %s; a sidecar's cpu is both", c.Name, req.Cpu(), lim.Cpu())
	}
	if !lim.Memory().IsZero() && !req.Memory().IsZero() && lim.Memory().Cmp(*req.Memory()) != 0 {
		f.lost("sidecar %s: memory request %s below its limit %s; a sidecar's memory is both (each pod reserves %s)", c.Name, req.Memory(), lim.Memory(), lim.Memory())
	}
	if sc.CPU == "" || sc.Memory == "" {
		f.lost("sidecar %s: no cpu or memory limit; the spec's default is %s and %s, requests = limits", c.Name, appspec.DefaultSidecarCPU, appspec.DefaultSidecarMemory)
	}
	for name := range c.Resources.Limits {
		if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
			f.lost("sidecar %s: resource %s; a sidecar has cpu and memory only (GPU is the app container's)", c.Name, name)
		}
	}
	for _, p := range c.Ports {
		if p.Name == "" && f.svcTargets(p.ContainerPort) {
			// Dropped, the Service would go to the app past an auth
			// proxy (an audit: oauth2-proxy's port 4180 by number).
			p.Name = f.portName(c, p.ContainerPort)
			f.lost("sidecar %s: port %d has no name; named %s here (the Service targets it by number)", c.Name, p.ContainerPort, p.Name)
		}
		if p.Name == "" {
			f.lost("sidecar %s: port %d has no name; a sidecar's ports are named", c.Name, p.ContainerPort)
			continue
		}
		proto := ""
		switch p.Protocol {
		case corev1.ProtocolUDP:
			proto = string(corev1.ProtocolUDP)
		case "", corev1.ProtocolTCP:
		default: // SCTP: spec.sidecars[].ports[].protocol is TCP or UDP
			f.lost("sidecar %s: port %s %d is %s; a sidecar's port is TCP or UDP: carried as TCP", c.Name, p.Name, p.ContainerPort, p.Protocol)
		}
		sc.Ports = append(sc.Ports, appspec.Port{Name: p.Name, Port: p.ContainerPort, Protocol: proto})
	}
	for _, m := range c.VolumeMounts {
		i := slices.IndexFunc(app.VolumeMounts, func(a corev1.VolumeMount) bool {
			return a.Name == m.Name && a.MountPath == m.MountPath && a.SubPath == "" && m.SubPath == ""
		})
		var v corev1.Volume
		if k := slices.IndexFunc(volumes, func(v corev1.Volume) bool { return v.Name == m.Name }); k >= 0 {
			v = volumes[k]
		}
		switch {
		case i < 0 && v.Secret != nil && m.SubPath == "":
			// The proxy's own key, as cloud-sql-proxy's manifest mounts
			// it: carried as the sidecar's, so the app never sees it.
			sc.SecretFiles = append(sc.SecretFiles, f.secretFile(v, m))
			continue
		case i < 0 && v.HostPath != nil:
			f.lost("sidecar %s: volume %s is a hostPath (%s), which the spec cannot mount: the node's files (host logs) are a node agent's to read, a DaemonSet's (as fluent-bit's chart runs it), not an app sidecar's", c.Name, m.Name, v.HostPath.Path)
			continue
		case i < 0:
			f.lost("sidecar %s: volume %s at %s, which the app container does not mount alike; a sidecar shares the app's mounts at the same paths (spec.sidecars[].mounts)", c.Name, m.Name, m.MountPath)
			continue
		case app.VolumeMounts[i].ReadOnly && !m.ReadOnly:
			f.lost("sidecar %s: volume %s at %s writable, read-only in the app container; a sidecar's share is read-only where the app's is (spec.sidecars[].mounts)", c.Name, m.Name, m.MountPath)
			continue
		case m.ReadOnly && !app.VolumeMounts[i].ReadOnly:
			// A log shipper's usual shape: dropped, it would tail an
			// empty directory unsaid (an audit: fluent-bit).
			f.lost("sidecar %s: volume %s at %s read-only, writable in the app container; carried as the app's, writable in the sidecar too (a sidecar's share is as the app's)", c.Name, m.Name, m.MountPath)
		}
		sc.Mounts = append(sc.Mounts, m.MountPath)
	}
	if c.StartupProbe != nil {
		sc.Startup = f.sidecarStartup(c.Name, c.StartupProbe, sc.Ports)
	}
	switch r := c.ReadinessProbe; {
	case c.LivenessProbe != nil || c.Lifecycle != nil || r != nil && r.TCPSocket == nil:
		f.lost("sidecar %s: a liveness probe, lifecycle hooks or a readiness probe other than a TCP connect; a sidecar has none (but its startup and its front port's readiness)", c.Name)
	case r != nil: // a front port's, if the Service targets it (front)
		if f.readyOn == nil {
			f.readyOn = map[string]intstr.IntOrString{}
		}
		f.readyOn[c.Name] = r.TCPSocket.Port
	}
	f.app.Spec.Sidecars = append(f.app.Spec.Sidecars, sc)
}

// sidecarStartup carries a sidecar's startup probe as its startup where it
// maps (a TCP connect, or an HTTP GET with no host or headers, on one of
// its ports): dropped, initCommand and the app would start before the
// sidecar is ready (cloud-sql-proxy's manifest probes /startup for that;
// an app-developer audit). Its length is spec.startupTimeout's (a worker's
// is set from it); another is said.
func (f *from) sidecarStartup(name string, p *corev1.Probe, ports []appspec.Port) *appspec.SidecarStartup {
	var st appspec.SidecarStartup
	var port intstr.IntOrString
	switch h := p.ProbeHandler; {
	case h.TCPSocket != nil && h.TCPSocket.Host == "":
		port = h.TCPSocket.Port
	case h.HTTPGet != nil && h.HTTPGet.Host == "" && len(h.HTTPGet.HTTPHeaders) == 0 && (h.HTTPGet.Scheme == "" || h.HTTPGet.Scheme == corev1.URISchemeHTTP):
		port, st.Path = h.HTTPGet.Port, cmp.Or(h.HTTPGet.Path, "/")
	}
	for _, sp := range ports {
		if port.Type == intstr.String && port.StrVal != "" && port.StrVal == sp.Name || port.Type == intstr.Int && port.IntVal == sp.Port {
			st.Port = sp.Name
		}
	}
	if st.Port == "" {
		f.lost("sidecar %s: its startup probe, which spec.sidecars[].startup cannot say (a TCP connect or an HTTP GET on one of its named ports): initCommand and the app will now start once its process has, before it is ready", name)
		return nil
	}
	s := &f.app.Spec
	total := time.Duration(p.PeriodSeconds) * time.Duration(max(p.FailureThreshold, 1)) * time.Second
	if s.Type == appspec.TypeWorker && s.StartupTimeout == "" && total != appspec.DefaultSidecarStartupTimeout {
		s.StartupTimeout = fmt.Sprintf("%ds", int64(total/time.Second)) // a worker's is the sidecars' alone
	}
	allowed := appspec.DefaultSidecarStartupTimeout
	if d, err := time.ParseDuration(s.StartupTimeout); err == nil && d > 0 {
		allowed = d
	}
	// Render's tries for that window at the probe's period: a window that
	// is not a whole number of periods (61s every 2s) is rounded up alike.
	if max(p.FailureThreshold, 1) != appspec.StartupTries(allowed, p.PeriodSeconds) {
		f.lost("sidecar %s: its startup probe allows %v; the spec's allows %v (spec.startupTimeout, a minute without it, which the app's startup probe uses too)", name, total, allowed)
	}
	return &st
}

// svcTargets says whether a port of the app's Service sends to container
// port n by number.
func (f *from) svcTargets(n int32) bool {
	return slices.ContainsFunc(svcPorts(f.svc), func(p corev1.ServicePort) bool {
		t := target(p)
		return t.Type == intstr.Int && t.IntVal == n
	})
}

// portName names sidecar c's unnamed port: c's name where that is a valid
// port name no container of the pod has, else port-<number>.
func (f *from) portName(c corev1.Container, n int32) string {
	taken := []string{render.PortName(appspec.TypeWeb), render.PortName(appspec.TypeRPC)}
	for _, o := range slices.Concat(f.podSpec.InitContainers, f.podSpec.Containers) {
		for _, p := range o.Ports {
			taken = append(taken, p.Name)
		}
	}
	for _, sc := range f.app.Spec.Sidecars {
		for _, p := range sc.Ports {
			taken = append(taken, p.Name)
		}
	}
	if len(validation.IsValidPortName(c.Name)) == 0 && !slices.Contains(taken, c.Name) {
		return c.Name
	}
	return fmt.Sprintf("port-%d", n)
}

// front marks the sidecar port the Service's main port targets (an auth
// proxy in front of the app) front: true, its number spec.service.port
// where it is not spec.port. The main port is the one the Ingress names,
// else the one named as kubectl zz or a chart names it (http, rpc, grpc), else the first
// to reach the app or a sidecar: a metrics exporter's port beside the
// app's is never the front (an audit saw svc:80 to the app dropped and
// the traffic sent to a statsd exporter). What does not map (another port
// to a sidecar, UDP, a port to the app beside the front, a readiness
// probe elsewhere) is said.
func (f *from) front(svc *corev1.Service, in *networkingv1.Ingress, app corev1.Container) {
	s := &f.app.Spec
	main := f.mainPort(svc, in, app)
	defer func() {
		// The spec's Service would send the main port's traffic to the
		// app, past what the live one sends it to (an auth proxy):
		// refused, not said (an audit saw oauth2-proxy bypassed).
		if main < 0 {
			// No Service port reaches a port a container declares
			// (declaring one is optional): beside other containers, the
			// one that listens cannot be told, and it may be an auth
			// proxy the spec would send past (a review).
			if others := f.otherContainers(); len(svcPorts(svc)) > 0 && len(others) > 0 {
				p := svc.Spec.Ports[0]
				t := target(p)
				f.refused = fmt.Errorf("service %s: its port %d sends to port %s, which no container of the pod declares, and the pod runs %s beside the app: which of them takes the traffic cannot be told, and the spec's Service would send it to the app: no spec is written; declare the port (containerPort) on the container that listens and run init --from again", svc.Name, p.Port, t.String(), strings.Join(others, ", "))
			}
			return
		}
		if slices.ContainsFunc(s.Sidecars, func(sc appspec.Sidecar) bool {
			return slices.ContainsFunc(sc.Ports, func(p appspec.Port) bool { return p.Front })
		}) {
			return
		}
		if c := f.sidecarBehind(svc.Spec.Ports[main]); c != "" {
			f.refused = fmt.Errorf("service %s: its main port %d sends to container %s, and the spec's Service would send it to the app past %s (an auth proxy bypassed): no spec is written; put front: true on that port (TCP, named) in spec.sidecars by hand, or point the Service at the app first if that is meant", svc.Name, svc.Spec.Ports[main].Port, c, c)
		}
	}()
	for i, p := range svcPorts(svc) {
		si, j := sidecarPort(s.Sidecars, target(p))
		if si < 0 {
			continue
		}
		sc, sp := &s.Sidecars[si], &s.Sidecars[si].Ports[j]
		switch {
		case i != main:
			f.lost("service %s: port %d to sidecar %s's port %d is not on the Service: its main port (%d) takes the app's traffic and the spec's Service has no other; reach the sidecar by pod (a PodMonitor, for metrics)", svc.Name, p.Port, sc.Name, sp.Port, svc.Spec.Ports[main].Port)
		case p.Protocol == corev1.ProtocolUDP || sp.Protocol == string(corev1.ProtocolUDP):
			f.lost("service %s: port %d to sidecar %s's UDP port %d; only a TCP port can be in front of the app (spec.sidecars[].ports[].front)", svc.Name, p.Port, sc.Name, sp.Port)
		default:
			sp.Front = true
			for _, q := range svc.Spec.Ports {
				if q.Port != p.Port && targets(q, app) {
					f.lost("service %s: port %d to the app container's port; with sidecar %s in front of the app the Service's main port targets it, and the app's port is not on the Service", svc.Name, q.Port, sc.Name)
				}
			}
			switch {
			case p.Port != s.Port && s.Service == nil:
				s.Service = &appspec.Service{Port: p.Port}
			case p.Port != s.Port:
				s.Service.Port = p.Port
			case s.Service != nil:
				s.Service.Port = 0 // a port to the app's, said above
			}
			if r, ok := f.readyOn[sc.Name]; ok && (r.Type == intstr.String && r.StrVal == sp.Name || r.Type == intstr.Int && r.IntVal == sp.Port) {
				delete(f.readyOn, sc.Name)
			}
		}
	}
	for _, sc := range s.Sidecars { // in order, for stable notes
		if _, ok := f.readyOn[sc.Name]; ok {
			f.lost("sidecar %s: a readiness probe not on the port in front of the app; a sidecar has none but there", sc.Name)
		}
	}
}

// mainPort is the index of the Service's port that takes the app's
// traffic, among those reaching the app or a sidecar: the Ingress's, else
// the one of kubectl zz's name, else the first; -1 if none.
func (f *from) mainPort(svc *corev1.Service, in *networkingv1.Ingress, app corev1.Container) int {
	ports := svcPorts(svc)
	reaches := func(p corev1.ServicePort) bool { return f.sidecarBehind(p) != "" || targets(p, app) }
	if in != nil && len(in.Spec.Rules) > 0 && in.Spec.Rules[0].HTTP != nil && len(in.Spec.Rules[0].HTTP.Paths) > 0 {
		if b := in.Spec.Rules[0].HTTP.Paths[0].Backend.Service; b != nil && b.Name == svc.Name {
			if i := slices.IndexFunc(ports, func(p corev1.ServicePort) bool {
				return (b.Port.Name != "" && p.Name == b.Port.Name || b.Port.Number != 0 && p.Port == b.Port.Number) && reaches(p)
			}); i >= 0 {
				return i
			}
		}
	}
	named := []string{render.PortName(f.app.Spec.Type), "http", "grpc"} // kubectl zz's and charts' names
	if i := slices.IndexFunc(ports, func(p corev1.ServicePort) bool { return slices.Contains(named, p.Name) && reaches(p) }); i >= 0 {
		return i
	}
	return slices.IndexFunc(ports, reaches)
}

// otherContainers names the pod's containers that run beside the app's:
// its native sidecars and its containers after the first.
func (f *from) otherContainers() []string {
	var names []string
	for _, c := range f.podSpec.InitContainers {
		if contract.IsNativeSidecar(c) {
			names = append(names, c.Name)
		}
	}
	for _, c := range f.podSpec.Containers[1:] {
		names = append(names, c.Name)
	}
	return names
}

// sidecarBehind is the name of the pod's container other than the app
// (carried or not) whose port Service port p sends to; "" if none.
func (f *from) sidecarBehind(p corev1.ServicePort) string {
	t := target(p)
	for _, c := range slices.Concat(f.podSpec.InitContainers, f.podSpec.Containers[1:]) {
		for _, q := range c.Ports {
			if t.Type == intstr.String && t.StrVal != "" && t.StrVal == q.Name || t.Type == intstr.Int && t.IntVal == q.ContainerPort {
				return c.Name
			}
		}
	}
	return ""
}

// target is the container port Service port p sends to: its targetPort,
// or its own number where that is unset.
func target(p corev1.ServicePort) intstr.IntOrString {
	if t := p.TargetPort; t.Type != intstr.Int || t.IntVal != 0 {
		return t
	}
	return intstr.FromInt32(p.Port)
}

// svcPorts are svc's ports, none without a Service.
func svcPorts(svc *corev1.Service) []corev1.ServicePort {
	if svc == nil {
		return nil
	}
	return svc.Spec.Ports
}

// sidecarPort finds the sidecar port t names, by name or number; -1 if none.
func sidecarPort(scs []appspec.Sidecar, t intstr.IntOrString) (int, int) {
	for i, sc := range scs {
		for j, p := range sc.Ports {
			if t.Type == intstr.String && t.StrVal == p.Name || t.Type == intstr.Int && t.IntVal == p.Port {
				return i, j
			}
		}
	}
	return -1, -1
}

// targets says whether Service port p reaches the app container's first
// port, as ports reads it.
func targets(p corev1.ServicePort, app corev1.Container) bool {
	if len(app.Ports) == 0 {
		return false
	}
	main, t := app.Ports[0], p.TargetPort
	return (t.Type == intstr.String && t.StrVal != "" && t.StrVal == main.Name) ||
		(t.Type == intstr.Int && (t.IntVal == main.ContainerPort || t.IntVal == 0 && p.Port == main.ContainerPort))
}
