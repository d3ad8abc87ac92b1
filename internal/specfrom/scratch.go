package specfrom

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/zzcloud/zz/internal/appspec"
)

// scratch carries an emptyDir the app container mounts whole and
// read-write into spec.scratch (its sizeLimit, medium Memory; its path
// cleaned, which names the same directory); anything else about it is
// said. A memory one without a sizeLimit is sized by sizeMemoryScratch
// once all are carried. A size is the apiserver's canonical text (1.5Gi
// comes back as 1536Mi): the apiserver stores no other, so the text
// written in a spec cannot be kept.
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
	sc := appspec.Scratch{MountPath: path.Clean(m.MountPath), Memory: src.Medium == corev1.StorageMediumMemory}
	switch {
	case src.SizeLimit == nil || src.SizeLimit.IsZero():
	case src.SizeLimit.Cmp(resource.MustParse("1Mi")) < 0:
		// spec.scratch's least size, as spec.memory's: the directory holds
		// a little more, never less.
		sc.Size = "1Mi"
		f.lost("volume %s: emptyDir at %s with a sizeLimit of %s, under spec.scratch's least size: carried as 1Mi", v.Name, m.MountPath, src.SizeLimit.String())
	default:
		sc.Size = src.SizeLimit.String()
	}
	s.Scratch = append(s.Scratch, sc)
}

// sizeMemoryScratch gives the memory scratch directories carried without
// a size (their emptyDirs had no sizeLimit) a quarter of spec.memory
// between them, or less, what the sized ones leave of it (a review: a
// 200Mi one beside them gave a spec over spec.memory), said: spec.scratch
// asks for a size, and all of them together less than spec.memory (their
// files count against it), which the whole limit each, what their tmpfs
// could hold, never is. Where the sized ones leave nothing, 1Mi each, and
// the note says spec.memory must be raised.
func (f *from) sizeMemoryScratch(mounts []corev1.VolumeMount) {
	names := map[string]string{} // volume by path, for the notes
	for _, m := range mounts {
		names[path.Clean(m.MountPath)] = m.Name
	}
	s := &f.app.Spec
	var unsized []int
	var sized resource.Quantity
	for i, sc := range s.Scratch {
		switch q, err := resource.ParseQuantity(sc.Size); {
		case !sc.Memory:
		case sc.Size == "":
			unsized = append(unsized, i)
		case err == nil:
			sized.Add(q)
		}
	}
	if len(unsized) == 0 {
		return
	}
	memory := cmp.Or(s.Memory, appspec.DefaultMemory)
	mem, err := resource.ParseQuantity(memory)
	if err != nil {
		mem = resource.MustParse(appspec.DefaultMemory)
	}
	const mi = 1 << 20
	room := min(mem.Value()/4, mem.Value()-sized.Value()-mi) // all together below spec.memory
	share := max(room/int64(len(unsized))/mi, 1)
	how := fmt.Sprintf("a quarter of it shared by %d", len(unsized))
	switch {
	case room < int64(len(unsized))*mi:
		how = fmt.Sprintf("the sized ones (%s) leave nothing of it: raise spec.memory", sized.String())
	case room < mem.Value()/4:
		how = fmt.Sprintf("what the sized ones (%s) leave of it shared by %d", sized.String(), len(unsized))
	}
	for _, i := range unsized {
		sc := &s.Scratch[i]
		sc.Size = fmt.Sprintf("%dMi", share)
		f.lost("volume %s: memory emptyDir at %s without a sizeLimit; spec.scratch's memory ones need a size, less than spec.memory %s all together (their files count against it): carried as %s, %s; set the size the app needs", names[sc.MountPath], sc.MountPath, memory, sc.Size, how)
	}
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
