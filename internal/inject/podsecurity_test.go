package inject

import (
	"cmp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// TestLxcfsPodSecurity: in a namespace enforcing the baseline or
// restricted Pod Security level, which refuse hostPath volumes, the
// webhook leaves lxcfs out and says why, so the pods it mutates are
// admitted (Pod Security admission judges the mutated pod: with lxcfs
// they were all refused); other levels keep lxcfs.
func TestLxcfsPodSecurity(t *testing.T) {
	for _, tc := range []struct {
		level string
		lxcfs bool
	}{
		{"", true}, {"privileged", true}, {"baseline", false}, {"restricted", false}, {"Baseline", true},
	} {
		t.Run(cmp.Or(tc.level, "unset"), func(t *testing.T) {
			pod := newPod()
			warnings, err := testPolicy(t).WithPodSecurity(tc.level).Mutate(pod, "shop")
			if err != nil {
				t.Fatal(err)
			}
			hostPath := 0
			for _, v := range pod.Spec.Volumes {
				if v.HostPath != nil && strings.HasPrefix(v.Name, contract.VolumeLxcfsPrefix) {
					hostPath++
				}
			}
			said := strings.Contains(strings.Join(warnings, "\n"), "lxcfs left out: namespace shop enforces the "+tc.level+" Pod Security level")
			if (hostPath > 0) != tc.lxcfs || said == tc.lxcfs {
				t.Errorf("level %q: %d lxcfs hostPath volumes, warnings %q; want lxcfs %v, said otherwise", tc.level, hostPath, warnings, tc.lxcfs)
			}
			if !tc.lxcfs && mounts(pod.Spec.Containers[0]) > 0 {
				t.Errorf("level %q: the container still mounts lxcfs", tc.level)
			}
		})
	}
}

// mounts counts c's lxcfs mounts.
func mounts(c corev1.Container) int {
	n := 0
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(m.Name, contract.VolumeLxcfsPrefix) {
			n++
		}
	}
	return n
}
