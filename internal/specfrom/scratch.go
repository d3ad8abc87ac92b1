package specfrom

import (
	"cmp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/appspec"
)

// scratch carries an emptyDir the app container mounts whole and
// read-write into spec.scratch (its sizeLimit, medium Memory); anything
// else about it is said. A memory one without a sizeLimit gets the
// container's memory as its size: the most its tmpfs could hold, which
// spec.scratch asks to be written down.
func (f *from) scratch(v corev1.Volume, m corev1.VolumeMount, mounts []corev1.VolumeMount) {
	s := &f.app.Spec
	src := v.EmptyDir
	switch {
	case m.SubPath != "" || m.SubPathExpr != "":
		f.lost("volume %s: emptyDir mounted by subPath at %s; spec.scratch mounts a directory of its own whole", v.Name, m.MountPath)
		return
	case m.ReadOnly:
		f.lost("volume %s: emptyDir mounted read-only at %s; spec.scratch is writable", v.Name, m.MountPath)
		return
	case src.Medium != corev1.StorageMediumDefault && src.Medium != corev1.StorageMediumMemory:
		f.lost("volume %s: emptyDir of medium %s at %s; spec.scratch is on the node's disk, or in memory (memory: true)", v.Name, src.Medium, m.MountPath)
		return
	}
	// One emptyDir at several paths becomes a directory at each, said once.
	var paths []string
	for _, o := range mounts {
		if o.Name == v.Name && o.SubPath == "" && o.SubPathExpr == "" && !o.ReadOnly {
			paths = append(paths, o.MountPath)
		}
	}
	if len(paths) > 1 && paths[0] == m.MountPath {
		f.lost("volume %s: one emptyDir at %s, which share their files; spec.scratch gives each path a directory of its own", v.Name, strings.Join(paths, " and "))
	}
	sc := appspec.Scratch{MountPath: m.MountPath, Memory: src.Medium == corev1.StorageMediumMemory}
	if src.SizeLimit != nil && !src.SizeLimit.IsZero() {
		sc.Size = src.SizeLimit.String()
	}
	if sc.Memory && sc.Size == "" {
		sc.Size = cmp.Or(s.Memory, appspec.DefaultMemory)
		f.lost("volume %s: memory emptyDir at %s without a sizeLimit; spec.scratch's memory ones need a size, here spec.memory's %s (its files count against it): set a smaller one", v.Name, m.MountPath, sc.Size)
	}
	s.Scratch = append(s.Scratch, sc)
}

// unmountedEmptyDirs says which emptyDirs the app container does not
// mount (a sidecar's, an init container's): spec.scratch mounts in the app
// container (and initCommand's).
func (f *from) unmountedEmptyDirs(pod corev1.PodSpec, c corev1.Container) {
	for _, v := range pod.Volumes {
		if v.EmptyDir == nil || slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == v.Name }) {
			continue
		}
		f.lost("volume %s: emptyDir not mounted in container %s (another container's); spec.scratch mounts in the app container and initCommand's", v.Name, c.Name)
	}
}
