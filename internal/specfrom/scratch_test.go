package specfrom

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/zzcloud/zz/internal/appspec"
	"github.com/zzcloud/zz/internal/render"
)

// TestScratchRoundTrip: what kubectl zz renders for spec.scratch comes
// back as the same spec.scratch, with nothing said about an emptyDir; a
// size in the apiserver's canonical text (the one it stores), another as
// that text, the same quantity.
func TestScratchRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, scratch string
		want          []appspec.Scratch // nil: as written
	}{
		{name: "canonical sizes", scratch: "[{mountPath: /tmp}, {mountPath: /var/cache/nginx, size: 2Gi}, {mountPath: /dev/shm, size: 256Mi, memory: true}]"},
		{name: "sizes in other units", scratch: "[{mountPath: /var/cache, size: 1.5Gi}, {mountPath: /dev/shm, size: 512Mi, memory: true}, {mountPath: /run/app, size: 1024Ki, memory: true}]",
			want: []appspec.Scratch{{MountPath: "/var/cache", Size: "1536Mi"}, {MountPath: "/dev/shm", Size: "512Mi", Memory: true}, {MountPath: "/run/app", Size: "1Mi", Memory: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, err := appspec.Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  memory: 1Gi\n  initCommand: [migrate]\n  scratch: "+tc.scratch+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			var d *appsv1.Deployment
			for _, o := range render.Render(app, render.Options{Namespace: "ns"}) {
				if dep, ok := o.(*appsv1.Deployment); ok {
					d = dep
				}
			}
			want := tc.want
			if want == nil {
				want = app.Spec.Scratch
			}
			got, notes := Spec("shop", Live{Deployment: d})
			if !reflect.DeepEqual(got.Spec.Scratch, want) {
				t.Errorf("scratch %+v, want %+v", got.Spec.Scratch, want)
			}
			for i := range min(len(want), len(app.Spec.Scratch)) {
				if w, g := app.Spec.Scratch[i].Size, want[i].Size; w != g && !resource.MustParse(w).Equal(resource.MustParse(g)) {
					t.Errorf("scratch[%d]: %s is not the quantity %s", i, g, w)
				}
			}
			for _, n := range notes {
				if strings.Contains(n, "emptyDir") {
					t.Errorf("note %q", n)
				}
			}
		})
	}
}

// TestScratchFrom: a Deployment's emptyDirs that fit spec.scratch are
// carried; each one that does not is said, once.
func TestScratchFrom(t *testing.T) {
	size := func(s string) *resource.Quantity { q := resource.MustParse(s); return &q }
	empty := func(name string, medium corev1.StorageMedium, limit *resource.Quantity) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: medium, SizeLimit: limit}}}
	}
	tests := []struct {
		name    string
		volumes []corev1.Volume
		mounts  []corev1.VolumeMount // the app container's
		sidecar []corev1.VolumeMount // a second container's
		want    []appspec.Scratch
		note    string // a note that must be said; "" for none about an emptyDir
		notes   int    // how many are said about emptyDirs, when more than one
	}{
		{name: "disk, no limit", volumes: []corev1.Volume{empty("tmp", "", nil)},
			mounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}, want: []appspec.Scratch{{MountPath: "/tmp"}}},
		{name: "disk with a limit, and memory with one", volumes: []corev1.Volume{empty("cache", "", size("2Gi")), empty("shm", corev1.StorageMediumMemory, size("128Mi"))},
			mounts: []corev1.VolumeMount{{Name: "cache", MountPath: "/var/cache"}, {Name: "shm", MountPath: "/dev/shm"}},
			want:   []appspec.Scratch{{MountPath: "/var/cache", Size: "2Gi"}, {MountPath: "/dev/shm", Size: "128Mi", Memory: true}}},
		{name: "memory without a limit", volumes: []corev1.Volume{empty("shm", corev1.StorageMediumMemory, nil)},
			mounts: []corev1.VolumeMount{{Name: "shm", MountPath: "/dev/shm"}}, want: []appspec.Scratch{{MountPath: "/dev/shm", Size: "64Mi", Memory: true}},
			note: "volume shm: memory emptyDir at /dev/shm without a sizeLimit; spec.scratch's memory ones need a size, less than spec.memory 256Mi all together (their files count against it): carried as 64Mi, a quarter of it shared by 1; set the size the app needs"},
		{name: "two in memory without a limit, beside one with", volumes: []corev1.Volume{empty("shm", corev1.StorageMediumMemory, nil), empty("run", corev1.StorageMediumMemory, nil), empty("cache", corev1.StorageMediumMemory, size("64Mi"))},
			mounts: []corev1.VolumeMount{{Name: "shm", MountPath: "/dev/shm"}, {Name: "run", MountPath: "/run/app"}, {Name: "cache", MountPath: "/var/cache"}},
			want:   []appspec.Scratch{{MountPath: "/dev/shm", Size: "32Mi", Memory: true}, {MountPath: "/run/app", Size: "32Mi", Memory: true}, {MountPath: "/var/cache", Size: "64Mi", Memory: true}},
			note:   "volume run: memory emptyDir at /run/app without a sizeLimit; spec.scratch's memory ones need a size, less than spec.memory 256Mi all together (their files count against it): carried as 32Mi, a quarter of it shared by 2; set the size the app needs", notes: 2},
		{name: "a limit under 1Mi", volumes: []corev1.Volume{empty("tmp", "", size("512Ki"))},
			mounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}, want: []appspec.Scratch{{MountPath: "/tmp", Size: "1Mi"}},
			note: "volume tmp: emptyDir at /tmp with a sizeLimit of 512Ki, under spec.scratch's least size: carried as 1Mi"},
		{name: "a path with a trailing slash", volumes: []corev1.Volume{empty("tmp", "", nil)},
			mounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp/"}}, want: []appspec.Scratch{{MountPath: "/tmp"}}},
		{name: "subPath", volumes: []corev1.Volume{empty("run", "", nil)},
			mounts: []corev1.VolumeMount{{Name: "run", MountPath: "/var/run/nginx.pid", SubPath: "nginx.pid"}},
			note:   "volume run: emptyDir mounted by subPath at /var/run/nginx.pid; spec.scratch mounts a directory of its own whole"},
		{name: "read-only", volumes: []corev1.Volume{empty("shared", "", nil)},
			mounts: []corev1.VolumeMount{{Name: "shared", MountPath: "/shared", ReadOnly: true}},
			note:   "volume shared: emptyDir mounted read-only at /shared; spec.scratch is writable"},
		{name: "hugepages", volumes: []corev1.Volume{empty("huge", corev1.StorageMediumHugePages, nil)},
			mounts: []corev1.VolumeMount{{Name: "huge", MountPath: "/hugepages"}},
			note:   "volume huge: emptyDir of medium HugePages at /hugepages; spec.scratch is on the node's disk, or in memory (memory: true)"},
		{name: "one at two paths", volumes: []corev1.Volume{empty("tmp", "", nil)},
			mounts: []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}, {Name: "tmp", MountPath: "/var/tmp"}},
			want:   []appspec.Scratch{{MountPath: "/tmp"}, {MountPath: "/var/tmp"}},
			note:   "volume tmp: one emptyDir at /tmp and /var/tmp, which share their files; spec.scratch gives each path a directory of its own"},
		{name: "only in a sidecar", volumes: []corev1.Volume{empty("logs", "", nil)},
			sidecar: []corev1.VolumeMount{{Name: "logs", MountPath: "/logs"}},
			note:    "volume logs: emptyDir not mounted in container web (another container's); spec.scratch mounts in the app container and initCommand's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := web()
			pod := &l.Deployment.Spec.Template.Spec
			pod.Volumes = tt.volumes
			pod.Containers[0].VolumeMounts = tt.mounts
			if tt.sidecar != nil {
				pod.Containers = append(pod.Containers, corev1.Container{Name: "shipper", Image: "shipper:1", VolumeMounts: tt.sidecar})
			}
			app, notes := Spec("web", l)
			if !reflect.DeepEqual(app.Spec.Scratch, tt.want) {
				t.Errorf("scratch %+v, want %+v", app.Spec.Scratch, tt.want)
			}
			var said []string
			for _, n := range notes {
				if strings.Contains(n, "emptyDir") {
					said = append(said, n)
				}
			}
			switch {
			case tt.note == "" && len(said) > 0:
				t.Errorf("notes %q, want none", said)
			case tt.note != "" && (len(said) != max(tt.notes, 1) || !slices.Contains(said, tt.note)):
				t.Errorf("notes %q, want %d with %q", said, max(tt.notes, 1), tt.note)
			}
			if tt.want != nil && tt.sidecar == nil {
				// What is carried deploys (TestSpec loads the whole spec).
				app.Default()
				if errs := app.Validate("zz.yaml"); len(errs) > 0 {
					t.Errorf("the spec does not validate: %v", errs)
				}
			}
		})
	}
}

// TestMemoryScratchBesideSizedOnes: the memory scratch directories that
// init --from sizes share what the sized ones beside them leave of
// spec.memory (256Mi), so the spec validates; a review found a 200Mi one
// plus a quarter (64Mi) over it. Where nothing is left, 1Mi each, said.
func TestMemoryScratchBesideSizedOnes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sized string // the sized memory emptyDir's sizeLimit
		want  string // the unsized one carried as
		note  string
		valid bool
	}{
		{name: "room for a quarter", sized: "100Mi", want: "64Mi", valid: true,
			note: "volume shm: memory emptyDir at /dev/shm without a sizeLimit; spec.scratch's memory ones need a size, less than spec.memory 256Mi all together (their files count against it): carried as 64Mi, a quarter of it shared by 1; set the size the app needs"},
		{name: "less than a quarter left", sized: "200Mi", want: "55Mi", valid: true,
			note: "volume shm: memory emptyDir at /dev/shm without a sizeLimit; spec.scratch's memory ones need a size, less than spec.memory 256Mi all together (their files count against it): carried as 55Mi, what the sized ones (200Mi) leave of it shared by 1; set the size the app needs"},
		{name: "nothing left", sized: "300Mi", want: "1Mi",
			note: "volume shm: memory emptyDir at /dev/shm without a sizeLimit; spec.scratch's memory ones need a size, less than spec.memory 256Mi all together (their files count against it): carried as 1Mi, the sized ones (300Mi) leave nothing of it: raise spec.memory; set the size the app needs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := web() // spec.memory 256Mi
			q := resource.MustParse(tc.sized)
			pod := &l.Deployment.Spec.Template.Spec
			pod.Volumes = []corev1.Volume{
				{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &q}}},
				{Name: "shm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
			}
			pod.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/var/cache"}, {Name: "shm", MountPath: "/dev/shm"}}
			app, notes := Spec("web", l)
			if len(app.Spec.Scratch) != 2 || app.Spec.Scratch[1].Size != tc.want {
				t.Fatalf("scratch %+v, want /dev/shm carried as %s", app.Spec.Scratch, tc.want)
			}
			if !slices.Contains(notes, tc.note) {
				t.Errorf("notes %q, want %q", notes, tc.note)
			}
			app.Default()
			var refused []string
			for _, e := range app.Validate("zz.yaml") {
				if strings.HasPrefix(e.Field, "spec.scratch") {
					refused = append(refused, e.Error())
				}
			}
			if tc.valid != (len(refused) == 0) {
				t.Errorf("scratch %+v: validation says %q, want it valid: %v", app.Spec.Scratch, refused, tc.valid)
			}
		})
	}
}
