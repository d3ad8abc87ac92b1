package appspec

import (
	"fmt"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/zzcloud/zz/internal/contract"
)

// The containers zz renders itself in every pod; a sidecar may not take
// their names (render names them so).
const (
	AppContainerName  = "app"
	InitContainerName = "init"
)

// maxSidecars bounds spec.sidecars: a pod of more containers than that is
// better described by a chart.
const maxSidecars = 8

// sidecars checks spec.sidecars: each a container of its own name, image,
// CPU and memory (as the app's are checked), env, ports no other container
// of the pod listens on (they share one network namespace), and mounts
// that are the app's.
func (v *validator) sidecars(s *Spec) {
	if len(s.Sidecars) > maxSidecars {
		v.add("spec.sidecars", fmt.Sprintf("has %d entries", len(s.Sidecars)), fmt.Sprintf("run at most %d sidecars (or describe the pod with a chart)", maxSidecars))
		return
	}
	names := map[string]string{AppContainerName: "the app's container", InitContainerName: "spec.initCommand's init container"}
	portNames, portNumbers := appPorts(s)
	mountPaths := appMountPaths(s)
	for i, sc := range s.Sidecars {
		field := fmt.Sprintf("spec.sidecars[%d]", i)
		switch taken, ok := names[sc.Name]; {
		case sc.Name == "":
			v.add(field+".name", "missing", "name the sidecar, e.g. name: db-proxy")
		case len(validation.IsDNS1123Label(sc.Name)) > 0:
			v.add(field+".name", fmt.Sprintf("%q is not a container name", sc.Name), "use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit, e.g. db-proxy")
		case ok:
			v.add(field+".name", fmt.Sprintf("%q is %s", sc.Name, taken), "give the sidecar a name of its own, e.g. db-proxy")
		}
		if _, ok := names[sc.Name]; !ok {
			names[sc.Name] = field + ".name"
		}
		v.image(field+".image", sc.Image, "", "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1")
		v.command(field+".command", sc.Command)
		v.envMap(field+".env", sc.Env, true)
		v.secretEnv(field, sc.SecretEnv, sc.Env)
		_, inEnv := sc.Env[contract.EnvAppPort]
		_, inSecretEnv := sc.SecretEnv[contract.EnvAppPort]
		for _, own := range []struct {
			f   string
			set bool
		}{{".env.", inEnv}, {".secretEnv.", inSecretEnv}} {
			if own.set {
				v.add(field+own.f+contract.EnvAppPort, "is set by kubectl zz in every sidecar, to spec.port", "drop it, and refer to it as $("+contract.EnvAppPort+") in args or env: a value of its own would stay behind when spec.port changes")
			}
		}
		v.cpu(field+".cpu", sc.CPU)
		v.bytes(field+".memory", sc.Memory, "use e.g. 128Mi", "memory")
		v.sidecarPorts(field, sc.Name, sc.Ports, portNames, portNumbers)
		v.sidecarMounts(field, sc.Mounts, mountPaths)
		v.sidecarSecretFiles(s, field, sc)
		v.sidecarStartup(field, sc)
	}
	v.front(s)
}

// front checks the port that takes the app's traffic instead of spec.port
// (front: true): a sidecar's, one at most (the Service's main port has one
// target), TCP (the Service's main port and the Ingress are), and an app
// with a Service.
func (v *validator) front(s *Spec) {
	for i, p := range s.Ports {
		if p.Front {
			v.add(fmt.Sprintf("spec.ports[%d].front", i), "is for a sidecar's port", "remove it (spec.port takes the app's traffic), or set it on the port of the sidecar in front of the app: spec.sidecars[].ports[].front")
		}
	}
	first := ""
	for i, sc := range s.Sidecars {
		for j, p := range sc.Ports {
			if !p.Front {
				continue
			}
			f := fmt.Sprintf("spec.sidecars[%d].ports[%d].front", i, j)
			switch {
			case s.Type == TypeWorker:
				v.add(f, "a worker app has no Service to put a sidecar in front of", "remove front, or use type web, java or rpc")
			case p.Protocol != "TCP":
				v.add(f, fmt.Sprintf("port %d is %s", p.Port, p.Protocol), "front a TCP port: the Service's main port and the Ingress carry TCP")
			case first != "":
				v.add(f, "is also "+first, "put one sidecar port in front of the app: the Service's main port has one target")
			}
			if first == "" {
				first = f
			}
		}
	}
}

// Front is the sidecar port in front of the app (front: true) and its
// sidecar's name; ok is false when the app container takes the traffic.
func (s *Spec) Front() (sidecar string, port Port, ok bool) {
	for _, sc := range s.Sidecars {
		for _, p := range sc.Ports {
			if p.Front {
				return sc.Name, p, true
			}
		}
	}
	return "", Port{}, false
}

// appPorts are the port names and numbers the app container takes, each
// with the field that takes it.
func appPorts(s *Spec) (names map[string]string, numbers map[int32]string) {
	names = map[string]string{"http": "spec.port's name", "rpc": "spec.port's name"}
	numbers = map[int32]string{}
	if s.Port != 0 {
		numbers[s.Port] = "spec.port"
	}
	for i, p := range s.Ports {
		field := fmt.Sprintf("spec.ports[%d]", i)
		if _, ok := names[p.Name]; !ok {
			names[p.Name] = field + ".name"
		}
		if _, ok := numbers[p.Port]; !ok {
			numbers[p.Port] = field + ".port"
		}
	}
	return names, numbers
}

// sidecarPorts checks one sidecar's ports, and adds them to those taken:
// the containers of a pod share its network, so two cannot listen on one
// port (the second would fail to bind), and a name must say one port.
func (v *validator) sidecarPorts(field, sidecar string, ports []Port, names map[string]string, numbers map[int32]string) {
	for j, p := range ports {
		f := fmt.Sprintf("%s.ports[%d]", field, j)
		switch taken, ok := names[p.Name]; {
		case p.Name == "":
			// Kubernetes allows an unnamed container port, and so do
			// charts; here the Service (front) and probes name it.
			v.add(f+".name", "missing: a sidecar port needs a name (the Service targets the front port by it, as a probe or a PodMonitor does)", "name it, e.g. name: "+portNameFor(sidecar, p.Port))
		case len(validation.IsValidPortName(p.Name)) > 0:
			v.add(f+".name", fmt.Sprintf("%q is not a port name", p.Name), "use at most 15 lower-case letters, digits and '-', e.g. proxy")
		case ok:
			v.add(f+".name", fmt.Sprintf("%q is also %s", p.Name, taken), "give each port of the pod a name of its own")
		default:
			names[p.Name] = f + ".name"
		}
		switch taken, ok := numbers[p.Port]; {
		case p.Port < 1 || p.Port > 65535:
			v.add(f+".port", fmt.Sprintf("%d is out of range", p.Port), "use a port from 1 to 65535, e.g. 5432")
		case ok:
			v.add(f+".port", fmt.Sprintf("%d is also %s: the pod's containers share its network, so only one can listen on it", p.Port, taken), "give the sidecar another port")
		default:
			numbers[p.Port] = f + ".port"
		}
		if p.Protocol != "TCP" && p.Protocol != "UDP" {
			v.add(f+".protocol", fmt.Sprintf("%q is not a protocol", p.Protocol), "use TCP or UDP")
		}
	}
}

// portNameFor is a port name to suggest for port of sidecar: the
// sidecar's name and the number, as init --from names an unnamed port,
// port-<number> where that is too long for a port name.
func portNameFor(sidecar string, port int32) string {
	if n := fmt.Sprintf("%s-%d", sidecar, port); len(validation.IsValidPortName(n)) == 0 {
		return n
	}
	return fmt.Sprintf("port-%d", port)
}

// appMountPaths are the app's mount paths a sidecar may share.
func appMountPaths(s *Spec) []string {
	var out []string
	for _, sc := range s.Scratch {
		out = append(out, sc.MountPath)
	}
	for _, f := range s.SecretFiles {
		out = append(out, f.MountPath)
	}
	if len(s.ConfigFiles) > 0 && s.ConfigDir != "" {
		out = append(out, s.ConfigDir)
	}
	if s.PVC != nil {
		out = append(out, s.PVC.MountPath)
	}
	return out
}

// sidecarMounts checks that each of a sidecar's mounts names a mount
// path of the app's, once.
func (v *validator) sidecarMounts(field string, mounts, app []string) {
	seen := map[string]bool{}
	for j, m := range mounts {
		f := fmt.Sprintf("%s.mounts[%d]", field, j)
		found := false
		for _, a := range app {
			found = found || path.Clean(a) == path.Clean(m)
		}
		switch {
		case !found && len(app) == 0:
			v.add(f, fmt.Sprintf("%s is not a mount of the app's: it has none", m), "give the app the directory first (spec.scratch: [{mountPath: "+m+"}] to share files with the sidecar), then list it here")
		case !found:
			v.add(f, fmt.Sprintf("%s is not a mount of the app's", m), "list one of "+strings.Join(app, ", ")+" (a sidecar shares the app's directories at the same paths), or add it to spec.scratch")
		case seen[path.Clean(m)]:
			v.add(f, fmt.Sprintf("%s is listed twice", m), "list each mount once")
		}
		seen[path.Clean(m)] = true
	}
}

// sidecarStartup checks spec.sidecars[].startup: one of the sidecar's own
// TCP ports by name (the kubelet probes that container), and an absolute
// HTTP path when it has one.
func (v *validator) sidecarStartup(field string, sc Sidecar) {
	st := sc.Startup
	if st == nil {
		return
	}
	f := field + ".startup"
	var names []string
	found := false
	for _, p := range sc.Ports {
		names = append(names, p.Name)
		if p.Name != st.Port {
			continue
		}
		found = true
		if p.Protocol == "UDP" {
			v.add(f+".port", fmt.Sprintf("port %s is UDP", st.Port), "name a TCP port of the sidecar: the kubelet connects over TCP")
		}
	}
	switch {
	case st.Port == "":
		v.add(f+".port", "missing", "name the port of the sidecar that answers once it is up, e.g. port: db (and path: /startup for an HTTP check)")
	case !found && len(names) == 0:
		v.add(f+".port", fmt.Sprintf("%q is not a port of the sidecar: it lists none", st.Port), fmt.Sprintf("add it to %s.ports, e.g. {name: %s, port: 5432}", field, st.Port))
	case !found:
		v.add(f+".port", fmt.Sprintf("%q is not a port of the sidecar", st.Port), "name one of "+strings.Join(names, ", ")+" (its ports, not the app's)")
	}
	if st.Path != "" && !strings.HasPrefix(st.Path, "/") {
		v.add(f+".path", fmt.Sprintf("%q does not start with /", st.Path), "use an absolute path, e.g. /startup (or leave it out for a TCP connect)")
	}
}

// sidecarSecretFiles checks a sidecar's own Secret files as the app's are
// checked (a name, keys, a path of its own), against the sidecar's other
// mounts: the app's it lists, at their paths, and each other. The app's
// mounts it does not list are not in its container, so a path of theirs
// is free there.
func (v *validator) sidecarSecretFiles(s *Spec, field string, sc Sidecar) {
	if len(sc.SecretFiles) > maxSecretFiles {
		v.add(field+".secretFiles", fmt.Sprintf("has %d entries", len(sc.SecretFiles)), fmt.Sprintf("mount at most %d Secrets (one Secret may hold many keys)", maxSecretFiles))
		return
	}
	var others []mount
	for j, m := range sc.Mounts {
		others = append(others, mount{fmt.Sprintf("%s.mounts[%d]", field, j), m, appMountReadOnly(s, m)})
	}
	for j, f := range sc.SecretFiles {
		ff := fmt.Sprintf("%s.secretFiles[%d]", field, j)
		v.secretFile(ff, f)
		m := mount{ff + ".mountPath", f.MountPath, true}
		if v.mountPath(m, "/etc/proxy") {
			v.overlap(others, m, "/etc/proxy")
			others = append(others, m)
		}
	}
}

// appMountReadOnly says whether the app's mount at p is read-only (its
// Secret files and config files; scratch and the claim are writable).
func appMountReadOnly(s *Spec, p string) bool {
	for _, f := range s.SecretFiles {
		if path.Clean(f.MountPath) == path.Clean(p) {
			return true
		}
	}
	return len(s.ConfigFiles) > 0 && s.ConfigDir != "" && path.Clean(s.ConfigDir) == path.Clean(p)
}

// SidecarMemoryScratch warns of each memory scratch directory (a tmpfs) a
// sidecar mounts whose size is not less than that sidecar's memory: tmpfs
// pages count against the memory of the container that writes them, so a
// sidecar filling it (redis's socket directory, a shipper's buffer) is
// OOM-killed before the directory is full, as spec.memory's rule keeps
// the app from. A warning, not a refusal: a sidecar that only reads the
// app's files there is not charged for them, and requests = limits make
// raising its memory cost every pod that much.
func (s *Spec) SidecarMemoryScratch() []string {
	var out []string
	for i, sc := range s.Sidecars {
		mem, err := resource.ParseQuantity(sc.Memory)
		if err != nil {
			continue
		}
		for j, m := range sc.Mounts {
			for _, d := range s.Scratch {
				size, err := resource.ParseQuantity(d.Size)
				if !d.Memory || err != nil || path.Clean(d.MountPath) != path.Clean(m) || size.Cmp(mem) < 0 {
					continue
				}
				out = append(out, fmt.Sprintf("spec.sidecars[%d].mounts[%d]: %s is a %s memory directory, not less than sidecar %s's memory %s, which the files it writes there count against: filled by the sidecar, it would be OOM-killed first; raise spec.sidecars[%d].memory above %s if it writes there (one that only reads the app's files is not charged)",
					i, j, m, d.Size, sc.Name, sc.Memory, i, d.Size))
			}
		}
	}
	return out
}
