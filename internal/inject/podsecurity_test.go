package inject

import (
	"cmp"
	"os"
	"slices"
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
	raw, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		level, clusterDefault string
		lxcfs                 bool
		said                  string
	}{
		{level: "", lxcfs: true},
		{level: "privileged", lxcfs: true},
		{level: "baseline", said: "baseline Pod Security level (" + contract.LabelPodSecurityEnforce + ")"},
		{level: "restricted", said: "restricted Pod Security level (" + contract.LabelPodSecurityEnforce + ")"},
		{level: "Baseline", lxcfs: true},
		// An unlabelled namespace under a cluster-wide default the admin
		// states in the policy: the pods were refused while the webhook
		// took unset for privileged.
		{level: "", clusterDefault: "baseline", said: "baseline Pod Security level (no " + contract.LabelPodSecurityEnforce + " label: the webhook policy's podSecurityDefault)"},
		{level: "", clusterDefault: "privileged", lxcfs: true},
		{level: "privileged", clusterDefault: "restricted", lxcfs: true},
		{level: "restricted", clusterDefault: "baseline", said: "restricted Pod Security level (" + contract.LabelPodSecurityEnforce + ")"},
	} {
		t.Run(cmp.Or(tc.level, "unset")+"/"+cmp.Or(tc.clusterDefault, "none"), func(t *testing.T) {
			policy := raw
			if tc.clusterDefault != "" {
				policy = append(slices.Clip(raw), []byte("\npodSecurityDefault: "+tc.clusterDefault+"\n")...)
			}
			p, err := Parse(policy)
			if err != nil {
				t.Fatal(err)
			}
			pod := newPod()
			warnings, err := p.WithPodSecurity(tc.level).Mutate(pod, "shop")
			if err != nil {
				t.Fatal(err)
			}
			hostPath := 0
			for _, v := range pod.Spec.Volumes {
				if v.HostPath != nil && strings.HasPrefix(v.Name, contract.VolumeLxcfsPrefix) {
					hostPath++
				}
			}
			said := strings.Join(warnings, "\n")
			if (hostPath > 0) != tc.lxcfs {
				t.Errorf("%d lxcfs hostPath volumes; want lxcfs %v", hostPath, tc.lxcfs)
			}
			if left := strings.Contains(said, "lxcfs left out: namespace shop enforces the "); left == tc.lxcfs || !tc.lxcfs && !strings.Contains(said, tc.said) {
				t.Errorf("warnings %q; want lxcfs %v and %q said", warnings, tc.lxcfs, tc.said)
			}
			if !tc.lxcfs && mounts(pod.Spec.Containers[0]) > 0 {
				t.Error("the container still mounts lxcfs")
			}
		})
	}
}

// TestPodSecurityDefaultValidated: a level Pod Security does not know is
// refused with the ones it does.
func TestPodSecurityDefaultValidated(t *testing.T) {
	raw, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(append(slices.Clip(raw), []byte("\npodSecurityDefault: Baseline\n")...))
	if err == nil || !strings.Contains(err.Error(), `podSecurityDefault: "Baseline" is not a Pod Security level; write privileged, baseline or restricted`) {
		t.Errorf("err = %v", err)
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
