package appspec

import (
	"strings"
	"testing"
)

// TestScratch: spec.scratch's refusals, each the whole error (field, what
// is wrong and the fix), and specs it takes; "" wants no error.
func TestScratch(t *testing.T) {
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"tmp on disk", "scratch: [{mountPath: /tmp}]", ""},
		{"sized, and /dev/shm in memory", "memory: 2Gi\n  scratch: [{mountPath: /tmp, size: 1Gi}, {mountPath: /dev/shm, memory: true, size: 1Gi}]", ""},
		{"inside the claim, and holding a Secret and the token", "replicas: 1\n  pvc: {size: 1Gi, mountPath: /data}\n  secretFiles: [{secret: a, mountPath: /var/run/tls}]\n  scratch: [{mountPath: /data/tmp}, {mountPath: /var/run}]", ""},
		{"config files inside it", "configFiles: {a: b}\n  configDir: /var/cache/conf\n  scratch: [{mountPath: /var/cache}]", ""},
		{"relative path", "scratch: [{mountPath: tmp}]",
			`zz.yaml: spec.scratch[0].mountPath: "tmp" is not an absolute path; use e.g. /tmp`},
		{"path not clean", "scratch: [{mountPath: /tmp}, {mountPath: /var/cache/../run/}]",
			`zz.yaml: spec.scratch[1].mountPath: "/var/cache/../run/" is not a clean path; write it as /var/run`},
		{"root", "scratch: [{mountPath: /}]",
			`zz.yaml: spec.scratch[0].mountPath: is the root of the container's file system; mount it in a directory of its own, e.g. /tmp`},
		{"under /dev", "scratch: [{mountPath: /dev/cache}]",
			`zz.yaml: spec.scratch[0].mountPath: /dev/cache is inside a file system the container runtime provides; mount it elsewhere, e.g. /tmp (/dev/shm is the one path under /dev a scratch directory may take)`},
		{"inside the token", "scratch: [{mountPath: /var/run/secrets/kubernetes.io/serviceaccount/x}]",
			`zz.yaml: spec.scratch[0].mountPath: /var/run/secrets/kubernetes.io/serviceaccount/x holds or is inside /var/run/secrets/kubernetes.io/serviceaccount, where the kubelet mounts the pod's ServiceAccount token; mount it elsewhere, e.g. /tmp`},
		{"over the runtime's DNS file", "scratch: [{mountPath: /etc/resolv.conf}]",
			`zz.yaml: spec.scratch[0].mountPath: /etc/resolv.conf is a file the kubelet or the container runtime mounts in every container (hosts, hostname, DNS, termination message); a mount there replaces it with a directory; mount it in a directory of its own, e.g. /tmp`},
		{"over the kubelet's hosts file", "scratch: [{mountPath: /etc/hosts}]",
			`zz.yaml: spec.scratch[0].mountPath: /etc/hosts is a file the kubelet`},
		{"over the hostname", "scratch: [{mountPath: /etc/hostname}]",
			`zz.yaml: spec.scratch[0].mountPath: /etc/hostname is a file the kubelet`},
		{"over the termination log", "scratch: [{mountPath: /dev/termination-log}]",
			`zz.yaml: spec.scratch[0].mountPath: /dev/termination-log is a file the kubelet`},
		// A path below a file: the runtime's mkdir under the file the
		// kubelet mounts fails at container creation (a review).
		{"under the kubelet's hosts file", "scratch: [{mountPath: /etc/hosts/x}]",
			`zz.yaml: spec.scratch[0].mountPath: /etc/hosts/x is inside /etc/hosts, a file the kubelet or the container runtime mounts in every container (hosts, hostname, DNS, termination message), where no directory can be made; mount it in a directory of its own, e.g. /tmp`},
		{"a Secret under the DNS file", "secretFiles: [{secret: a, mountPath: /etc/resolv.conf/d}]",
			`zz.yaml: spec.secretFiles[0].mountPath: /etc/resolv.conf/d is inside /etc/resolv.conf, a file the kubelet`},
		{"under the termination log", "scratch: [{mountPath: /dev/termination-log/x}]",
			`zz.yaml: spec.scratch[0].mountPath: /dev/termination-log/x is inside /dev/termination-log, a file the kubelet`},
		{"under the hostname", "scratch: [{mountPath: /etc/hostname/x/y}]",
			`zz.yaml: spec.scratch[0].mountPath: /etc/hostname/x/y is inside /etc/hostname, a file the kubelet`},
		{"beside the hosts file", "scratch: [{mountPath: /etc/hostsdir}]", ""},
		{"a Secret over the DNS file", "secretFiles: [{secret: a, mountPath: /etc/resolv.conf}]",
			`zz.yaml: spec.secretFiles[0].mountPath: /etc/resolv.conf is a file the kubelet or the container runtime mounts in every container (hosts, hostname, DNS, termination message); a mount there replaces it with a directory; mount it in a directory of its own, e.g. /etc/tls`},
		{"over the image's /usr", "scratch: [{mountPath: /usr}]",
			`zz.yaml: spec.scratch[0].mountPath: /usr would hide the image's own /usr (its programs, libraries or configuration), so the container could not run; mount a subdirectory, e.g. /usr/app, or a directory of its own, e.g. /tmp`},
		{"over the image's /etc/", "scratch: [{mountPath: /tmp}, {mountPath: /etc/}]",
			`zz.yaml: spec.scratch[1].mountPath: "/etc/" is not a clean path; write it as /etc`},
		{"over the image's /var", "scratch: [{mountPath: /var}]",
			`zz.yaml: spec.scratch[0].mountPath: /var would hide the image's own /var`},
		{"the claim over the image's /bin", "replicas: 1\n  pvc: {size: 1Gi, mountPath: /bin}",
			`zz.yaml: spec.pvc.mountPath: /bin would hide the image's own /bin (its programs, libraries or configuration), so the container could not run; mount a subdirectory, e.g. /bin/app, or a directory of its own, e.g. /data`},
		{"config files over the image's /etc", "configFiles: {a: b}\n  configDir: /etc",
			`zz.yaml: spec.configDir: /etc would hide the image's own /etc (its programs, libraries or configuration), so the container could not run; mount a subdirectory, e.g. /etc/app, or a directory of its own, e.g. /etc/zz`},
		{"config files in the claim under /var", "replicas: 1\n  configFiles: {a: b}\n  configDir: /var/lib/app/conf\n  pvc: {size: 1Gi, mountPath: /var/lib/app}\n  scratch: [{mountPath: /var/cache/nginx}, {mountPath: /usr/share/nginx/html}]", ""},
		{"a name longer than Linux holds", "scratch: [{mountPath: /var/" + strings.Repeat("a", 256) + "/x}]",
			`zz.yaml: spec.scratch[0].mountPath: has a name of 256 bytes, more than the 255 a Linux file name holds; use a shorter name, e.g. /tmp`},
		{"a Secret's name longer than Linux holds", "secretFiles: [{secret: a, mountPath: /" + strings.Repeat("a", 300) + "}]",
			`zz.yaml: spec.secretFiles[0].mountPath: has a name of 300 bytes, more than the 255`},
		{"a name as long as Linux holds", "scratch: [{mountPath: /" + strings.Repeat("a", 255) + "}]", ""},
		{"two at one path", "scratch: [{mountPath: /tmp}, {mountPath: /tmp, memory: true, size: 64Mi}]",
			`zz.yaml: spec.scratch[1].mountPath: /tmp is also spec.scratch[0].mountPath; give each mount a directory of its own`},
		{"at the claim's path", "replicas: 1\n  pvc: {size: 1Gi, mountPath: /data}\n  scratch: [{mountPath: /data}]",
			`zz.yaml: spec.scratch[0].mountPath: /data is also spec.pvc.mountPath; give each mount a directory of its own`},
		{"inside the config files", "configFiles: {a: b}\n  scratch: [{mountPath: /etc/zz/cache}]",
			`zz.yaml: spec.scratch[0].mountPath: /etc/zz/cache is inside spec.configDir /etc/zz, which is read-only; mount it beside it, e.g. /tmp`},
		{"inside a Secret", "secretFiles: [{secret: a, mountPath: /etc/tls}]\n  scratch: [{mountPath: /etc/tls/tmp}]",
			`zz.yaml: spec.scratch[0].mountPath: /etc/tls/tmp is inside spec.secretFiles[0].mountPath /etc/tls, which is read-only; mount it beside it, e.g. /tmp`},
		{"too many", "scratch: [" + strings.Repeat("{mountPath: /a},", 17) + "]",
			`zz.yaml: spec.scratch: has 17 entries; mount at most 16 scratch directories (one may hold many)`},
		{"size in bytes", "scratch: [{mountPath: /tmp, size: '512'}]",
			`zz.yaml: spec.scratch[0].size: 512 is 512 bytes; write 512Mi for 512 mebibytes`},
		{"size past int64", "scratch: [{mountPath: /tmp, size: '1e30'}]",
			`zz.yaml: spec.scratch[0].size: 1e30 is more than 8Ei, the largest size there is; use e.g. 1Gi`},
		{"size in Ki under 1Mi", "scratch: [{mountPath: /tmp, size: 1Ki}]",
			`zz.yaml: spec.scratch[0].size: 1Ki is under 1Mi (1024 bytes), the least size; write at least 1Mi, e.g. 512Mi or 2Gi`},
		{"size a fraction of 1Mi", "scratch: [{mountPath: /tmp, size: 0.5Mi}]",
			`zz.yaml: spec.scratch[0].size: 0.5Mi is under 1Mi (524288 bytes), the least size; write at least 1Mi`},
		{"size in Ki of 1Mi", "scratch: [{mountPath: /tmp, size: 1024Ki}]", ""},
		{"size not a quantity", "scratch: [{mountPath: /tmp, size: 1GB}]",
			`zz.yaml: spec.scratch[0].size: "1GB" is not a quantity; use e.g. 1Gi`},
		{"size a number", "scratch: [{mountPath: /tmp, size: 1}]",
			`zz.yaml: spec.scratch[0].size: expected string, got number`},
		{"memory without a size", "memory: 1Gi\n  scratch: [{mountPath: /dev/shm, memory: true}]",
			`zz.yaml: spec.scratch[0].size: missing: a memory scratch directory's files count against spec.memory; set size, e.g. 256Mi (a quarter of spec.memory 1Gi)`},
		{"memory above spec.memory", "memory: 1Gi\n  scratch: [{mountPath: /dev/shm, memory: true, size: 2Gi}]",
			`zz.yaml: spec.scratch[0].size: 2Gi is not less than spec.memory 1Gi, which a memory scratch directory's files count against: filled, it would leave the app no memory; use a smaller size, raise spec.memory, or leave memory out for a directory on the node's disk`},
		{"memory ones together above spec.memory", "memory: 1Gi\n  scratch: [{mountPath: /dev/shm, memory: true, size: 768Mi}, {mountPath: /tmp, memory: true, size: 512Mi}]",
			`zz.yaml: spec.scratch: the memory scratch directories hold up to 1280Mi, not less than spec.memory 1Gi, which their files count against: filled, they would leave the app no memory; use smaller sizes or raise spec.memory`},
		{"memory as large as spec.memory", "memory: 1Gi\n  scratch: [{mountPath: /dev/shm, memory: true, size: 1Gi}]",
			`zz.yaml: spec.scratch[0].size: 1Gi is not less than spec.memory 1Gi, which a memory scratch directory's files count against: filled, it would leave the app no memory; use a smaller size`},
		{"memory ones together as large as spec.memory", "memory: 1Gi\n  scratch: [{mountPath: /dev/shm, memory: true, size: 512Mi}, {mountPath: /tmp, memory: true, size: 512Mi}]",
			`zz.yaml: spec.scratch: the memory scratch directories hold up to 1Gi, not less than spec.memory 1Gi`},
		{"memory ones together under spec.memory", "memory: 1Gi\n  scratch: [{mountPath: /dev/shm, memory: true, size: 512Mi}, {mountPath: /tmp, memory: true, size: 511Mi}]", ""},
		{"unknown key", "scratch: [{mountPath: /tmp, medium: Memory}]",
			`zz.yaml: spec.scratch[0].medium: unknown field; known fields here: mountPath, size, memory`},
		{"emptyDir, as Kubernetes names it", "emptyDir: {sizeLimit: 1Gi}",
			`zz.yaml: spec.emptyDir: unknown field; an emptyDir is spec.scratch here: [{mountPath: /tmp, size: 1Gi}], memory: true for a tmpfs`},
		{"sizeLimit, as Kubernetes names it", "scratch: [{mountPath: /tmp, sizeLimit: 1Gi}]",
			`zz.yaml: spec.scratch[0].sizeLimit: unknown field`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  "+tc.spec+"\n"))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("taken, want %s", tc.want)
			case tc.want != "" && !strings.HasPrefix(err.Error(), tc.want):
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
