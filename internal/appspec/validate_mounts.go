package appspec

import (
	"fmt"
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// serviceAccountDir is where the kubelet mounts a pod's ServiceAccount
// token.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// devShm is the runtime's shared memory, 64 MiB unless a volume is
// mounted over it: the one path under /dev a scratch directory may take.
const devShm = "/dev/shm"

// kubeletFiles are the files the kubelet (/etc/hosts,
// /dev/termination-log) or the container runtime (/etc/hostname,
// /etc/resolv.conf) mounts in every container, each only where no volume
// is mounted at its path: a mount there replaces the file with a
// directory, and DNS or the hosts file break without an error.
var kubeletFiles = map[string]bool{
	"/etc/hosts":           true,
	"/etc/hostname":        true,
	"/etc/resolv.conf":     true,
	"/dev/termination-log": true,
}

// kubeletFileAbove is the kubelet's file (kubeletFiles) that p is below,
// "" if none.
func kubeletFileAbove(p string) string {
	for f := range kubeletFiles {
		if path.Clean(p) != f && under(p, f) {
			return f
		}
	}
	return ""
}

// imageDirs are the top-level directories that hold an image's programs,
// libraries, configuration (users, CA certificates) and package state: a
// mount at one of them hides all of it, so exec fails or the app runs
// without its users and certificates. Their subdirectories are fine
// (/etc/app, /var/cache/nginx). /, /proc, /sys and /dev are refused on
// their own below; /opt, /srv and /home are where some images keep the
// app and others nothing, so they are the author's call.
var imageDirs = map[string]bool{
	"/bin": true, "/etc": true, "/lib": true, "/lib64": true,
	"/sbin": true, "/usr": true, "/var": true,
}

// maxSecretFiles bounds spec.secretFiles, maxScratch spec.scratch: an app
// mounting more than that is better described by a chart.
const (
	maxSecretFiles = 16
	maxScratch     = 16
)

// mount is one directory the app's containers mount, for the checks that
// compare them.
type mount struct {
	field, path string
	readOnly    bool
}

// mounts checks each Secret mount (a name, keys) and each scratch
// directory (a size), and every mount path: one that no other mount of
// the app has, neither inside a read-only mount nor holding one inside it
// (the kubelet cannot make a mount point in a read-only volume, and two
// mounts at one path are refused). Inside a writable one (the claim, a
// scratch directory) is fine, as configDir inside pvc is.
func (v *validator) mounts(s *Spec) {
	var others []mount
	if len(s.ConfigFiles) > 0 && s.ConfigDir != "" {
		others = append(others, mount{"spec.configDir", s.ConfigDir, true})
	}
	if s.PVC != nil && path.IsAbs(s.PVC.MountPath) {
		others = append(others, mount{"spec.pvc.mountPath", s.PVC.MountPath, false})
	}
	// configDir and the claim are checked here as the others are (their
	// relative paths are refused where they are read).
	for _, m := range others {
		example := "/data"
		if m.readOnly {
			example = DefaultConfigDir
		}
		v.mountPath(m, example)
	}
	if len(s.SecretFiles) > maxSecretFiles {
		v.add("spec.secretFiles", fmt.Sprintf("has %d entries", len(s.SecretFiles)), fmt.Sprintf("mount at most %d Secrets (one Secret may hold many keys)", maxSecretFiles))
	} else {
		for i, f := range s.SecretFiles {
			field := fmt.Sprintf("spec.secretFiles[%d]", i)
			v.secretFile(field, f)
			m := mount{field + ".mountPath", f.MountPath, true}
			if v.mountPath(m, "/etc/tls") {
				v.overlap(others, m, "/etc/tls")
				others = append(others, m)
			}
		}
	}
	if len(s.Scratch) > maxScratch {
		v.add("spec.scratch", fmt.Sprintf("has %d entries", len(s.Scratch)), fmt.Sprintf("mount at most %d scratch directories (one may hold many)", maxScratch))
		return
	}
	for i, sc := range s.Scratch {
		field := fmt.Sprintf("spec.scratch[%d]", i)
		v.scratchSize(s, field, sc)
		m := mount{field + ".mountPath", sc.MountPath, false}
		if path.IsAbs(sc.MountPath) && path.Clean(sc.MountPath) != sc.MountPath {
			v.add(m.field, fmt.Sprintf("%q is not a clean path", sc.MountPath), "write it as "+path.Clean(sc.MountPath))
			continue
		}
		if v.mountPath(m, "/tmp") {
			v.overlap(others, m, "/tmp")
			others = append(others, m)
		}
	}
	v.scratchMemory(s)
}

// secretFile checks one Secret mount's name and keys.
func (v *validator) secretFile(field string, f SecretFile) {
	v.objectName(field+".secret", f.Secret)
	seen := map[string]bool{}
	for j, k := range f.Keys {
		switch {
		case len(validation.IsConfigMapKey(k)) > 0:
			v.add(fmt.Sprintf("%s.keys[%d]", field, j), fmt.Sprintf("%q is not a Secret key", k), "use the key as kubectl get secret -o yaml shows it")
		case seen[k]:
			v.add(fmt.Sprintf("%s.keys[%d]", field, j), fmt.Sprintf("%q is listed twice", k), "list each key once")
		}
		seen[k] = true
	}
}

// mountPath checks m's path on its own, example being a good one for the
// fix; false when it is no path to compare with the others.
func (v *validator) mountPath(m mount, example string) bool {
	p := m.path
	switch {
	case !path.IsAbs(p):
		v.add(m.field, fmt.Sprintf("%q is not an absolute path", p), "use e.g. "+example)
	case path.Clean(p) == "/":
		v.add(m.field, "is the root of the container's file system", "mount it in a directory of its own, e.g. "+example)
	case longName(p) != "":
		// Neither the apiserver nor the kubelet checks it: the runtime's
		// mkdir fails (ENAMETOOLONG) and the container never starts.
		v.add(m.field, fmt.Sprintf("has a name of %d bytes, more than the %d a Linux file name holds", len(longName(p)), nameMax), "use a shorter name, e.g. "+example)
	case kubeletFiles[path.Clean(p)]:
		v.add(m.field, fmt.Sprintf("%s is a file the kubelet or the container runtime mounts in every container (hosts, hostname, DNS, termination message); a mount there replaces it with a directory", p),
			"mount it in a directory of its own, e.g. "+example)
	case kubeletFileAbove(p) != "":
		// The runtime's mkdir below the file the kubelet mounts fails at
		// container creation (a review: only the exact path was checked).
		v.add(m.field, fmt.Sprintf("%s is inside %s, a file the kubelet or the container runtime mounts in every container (hosts, hostname, DNS, termination message), where no directory can be made", p, kubeletFileAbove(p)),
			"mount it in a directory of its own, e.g. "+example)
	case imageDirs[path.Clean(p)]:
		v.add(m.field, fmt.Sprintf("%s would hide the image's own %s (its programs, libraries or configuration), so the container could not run", p, path.Clean(p)),
			fmt.Sprintf("mount a subdirectory, e.g. %s/app, or a directory of its own, e.g. %s", path.Clean(p), example))
	case under(p, serviceAccountDir) || m.readOnly && under(serviceAccountDir, p):
		// The kubelet mounts the ServiceAccount's token there: not
		// inside a read-only volume, nor over it (a review). A writable
		// one may hold it (a scratch /var/run, as nginx writes).
		v.add(m.field, fmt.Sprintf("%s holds or is inside %s, where the kubelet mounts the pod's ServiceAccount token", p, serviceAccountDir), "mount it elsewhere, e.g. "+example)
	case !m.readOnly && path.Clean(p) == devShm:
		return true
	case under(p, "/proc") || under(p, "/sys") || under(p, "/dev"):
		v.add(m.field, fmt.Sprintf("%s is inside a file system the container runtime provides", p), "mount it elsewhere, e.g. "+example+devShmHint(m))
	default:
		return true
	}
	return false
}

// nameMax is Linux's NAME_MAX: the most bytes of one path component.
const nameMax = 255

// longName is p's first component longer than nameMax, or "".
func longName(p string) string {
	for _, c := range strings.Split(p, "/") {
		if len(c) > nameMax {
			return c
		}
	}
	return ""
}

func devShmHint(m mount) string {
	if m.readOnly {
		return ""
	}
	return " (" + devShm + " is the one path under /dev a scratch directory may take)"
}

// overlap refuses m where it shares a path with one of others, or where
// either sits inside the other and the outer one is read-only.
func (v *validator) overlap(others []mount, m mount, example string) {
	p := m.path
	for _, o := range others {
		switch {
		case path.Clean(o.path) == path.Clean(p):
			v.add(m.field, fmt.Sprintf("%s is also %s", p, o.field), "give each mount a directory of its own")
		case o.readOnly && under(p, o.path):
			v.add(m.field, fmt.Sprintf("%s is inside %s %s, which is read-only", p, o.field, o.path), "mount it beside it, e.g. "+example)
		case m.readOnly && under(o.path, p):
			v.add(m.field, fmt.Sprintf("%s %s is inside %s, which is read-only", o.field, o.path, p), "mount the Secret in a directory of its own, e.g. "+example)
		}
	}
}

// scratchSize checks one scratch directory's size: a byte quantity of at
// least 1Mi, as spec.memory; a memory one needs it (below) and must be
// less than spec.memory, which its files count against: filled to its
// size it then answers ENOSPC with memory left for the app, where one as
// large as the limit would get the app OOM-killed first.
func (v *validator) scratchSize(s *Spec, field string, sc Scratch) {
	mem, memErr := resource.ParseQuantity(s.Memory)
	if sc.Size == "" {
		if sc.Memory {
			// Without a size the tmpfs takes up to the container's whole
			// memory limit, and a full one kills the app (OOM) where a sized
			// one answers ENOSPC: the budget is the author's to write.
			fix := "set size, e.g. 64Mi"
			if memErr == nil && mem.Value() >= 4<<20 {
				fix = fmt.Sprintf("set size, e.g. %dMi (a quarter of spec.memory %s)", mem.Value()/4>>20, s.Memory)
			}
			v.add(field+".size", "missing: a memory scratch directory's files count against spec.memory", fix)
		}
		return
	}
	before := len(v.errs)
	v.bytes(field+".size", sc.Size, "use e.g. 1Gi", "size")
	if len(v.errs) > before || !sc.Memory || memErr != nil {
		return
	}
	if q := resource.MustParse(sc.Size); q.Cmp(mem) >= 0 {
		v.add(field+".size", fmt.Sprintf("%s is not less than spec.memory %s, which a memory scratch directory's files count against: filled, it would leave the app no memory", sc.Size, s.Memory),
			"use a smaller size, raise spec.memory, or leave memory out for a directory on the node's disk")
	}
}

// scratchMemory refuses memory scratch directories that together hold
// spec.memory or more, for scratchSize's reason (each alone is checked
// there).
func (v *validator) scratchMemory(s *Spec) {
	mem, err := resource.ParseQuantity(s.Memory)
	if err != nil {
		return
	}
	var total resource.Quantity
	n := 0
	for _, sc := range s.Scratch {
		q, err := resource.ParseQuantity(sc.Size)
		if !sc.Memory || err != nil || q.Cmp(mem) >= 0 {
			continue
		}
		total.Add(q)
		n++
	}
	if n > 1 && total.Cmp(mem) >= 0 {
		v.add("spec.scratch", fmt.Sprintf("the memory scratch directories hold up to %s, not less than spec.memory %s, which their files count against: filled, they would leave the app no memory", total.String(), s.Memory),
			"use smaller sizes or raise spec.memory")
	}
}
