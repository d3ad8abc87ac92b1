package appspec

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const validSpec = `apiVersion: zz.io/v1
kind: App
name: shop
spec:
  type: web
  image: registry.local/shop:1.4.2
  memory: 1Gi
  env:
    LOG_LEVEL: info
`

func TestLoadDefaults(t *testing.T) {
	app, err := Load("zz.yaml", []byte(validSpec))
	if err != nil {
		t.Fatal(err)
	}
	s := app.Spec
	if s.Version != "1.4.2" || *s.Replicas != DefaultReplicas || s.CPU != DefaultCPU || s.Memory != "1Gi" ||
		s.Port != DefaultPort || s.HealthPath != DefaultHealthPath || s.AntiAffinity != AntiAffinityPreferred {
		t.Fatalf("defaults not applied as expected: %+v", s)
	}
}

func TestLoadWorkerHasNoPort(t *testing.T) {
	app, err := Load("w.yaml", []byte("name: jobs\nspec: {type: worker, image: 'reg/jobs:2', replicas: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if app.Spec.Port != 0 || app.Spec.HealthPath != "" || *app.Spec.Replicas != 0 {
		t.Fatalf("worker got port %d, healthPath %q, replicas %d", app.Spec.Port, app.Spec.HealthPath, *app.Spec.Replicas)
	}
}

// TestValidationErrors has one row per check: each error names file, field and fix.
func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		spec string // the spec: block, indented by two
		top  string // replaces "name: shop" when set
		want string
	}{
		{name: "unknown field with suggestion", spec: "type: web\n  image: a:1\n  memroy: 1Gi",
			want: `zz.yaml: spec.memroy: unknown field; did you mean "memory"?`},
		{name: "unknown field and a bad value, both at once", spec: "type: web\n  image: a:1\n  memroy: 1Gi\n  memory: 12GB\n  replicas: -1",
			want: "zz.yaml: spec.memroy: unknown field; did you mean \"memory\"?\nzz.yaml: spec.replicas: -1 is negative; use 0 or more\nzz.yaml: spec.memory: \"12GB\" is not a quantity"},
		{name: "unknown field without a close match", spec: "type: web\n  image: a:1\n  livenessDelay: 5",
			want: "zz.yaml: spec.livenessDelay: unknown field; known fields here: type, image, version, replicas"},
		{name: "unknown nested field", spec: "type: web\n  image: a:1\n  hpa: {min: 1, mx: 3}",
			want: `zz.yaml: spec.hpa.mx: unknown field; did you mean "max"?`},
		{name: "unknown top-level field", top: "name: shop\nreplicas: 3", spec: "type: web\n  image: a:1",
			want: `zz.yaml: replicas: unknown field; it belongs under spec (spec.replicas)`},
		{name: "unknown top-level field, not a spec one", top: "name: shop\nresourses: {}", spec: "type: web\n  image: a:1",
			want: `zz.yaml: resourses: unknown field; known fields here: apiVersion, kind, name, spec`},
		// kubectl's habit (an app-developer audit got the list of the four
		// fields, then "name: missing").
		{name: "kubernetes metadata", top: "metadata: {name: shop, labels: {team: a}}", spec: "type: web\n  image: a:1",
			want: "zz.yaml: metadata: unknown field; a kubectl zz spec has no metadata: the app's name is the top-level name: beside apiVersion, kind and spec (name: shop), its labels and annotations spec.labels and spec.annotations"},
		{name: "duplicate field", spec: "type: web\n  image: a:1\n  image: a:2", want: "zz.yaml: not valid YAML"},
		{name: "wrong type", spec: "type: web\n  image: a:1\n  replicas: three",
			want: "zz.yaml: spec.replicas: expected int32, got string"},
		{name: "memory not a quantity", spec: "type: web\n  image: a:1\n  memory: 12GB",
			want: `zz.yaml: spec.memory: "12GB" is not a quantity; use e.g. 512Mi or 2Gi`},
		{name: "cpu not a quantity", spec: "type: web\n  image: a:1\n  cpu: two", want: `spec.cpu: "two" is not a quantity; use e.g. 250m`},
		{name: "cpu zero", spec: "type: web\n  image: a:1\n  cpu: '0'", want: `spec.cpu: "0" is not positive`},
		{name: "gpuMem", spec: "type: web\n  image: a:1\n  gpuMem: lots", want: `spec.gpuMem: "lots" is not a quantity; use e.g. 4Gi`},
		{name: "missing name", top: "kind: App", spec: "type: web\n  image: a:1", want: "zz.yaml: name: missing; name the app"},
		{name: "bad name", top: "name: Shop_1", spec: "type: web\n  image: a:1", want: `zz.yaml: name: "Shop_1" is not a valid app name; use lower-case`},
		{name: "long name", top: "name: " + strings.Repeat("a", 41), spec: "type: web\n  image: a:1", want: "is 41 characters; use at most 40"},
		{name: "bad apiVersion", top: "apiVersion: v2\nname: shop", spec: "type: web\n  image: a:1", want: `zz.yaml: apiVersion: "v2" is not supported; use zz.io/v1`},
		{name: "bad kind", top: "kind: Deployment\nname: shop", spec: "type: web\n  image: a:1", want: `zz.yaml: kind: "Deployment" is not supported; use App`},
		{name: "missing type", spec: "image: a:1", want: "zz.yaml: spec.type: missing; use one of java, web, rpc, worker"},
		{name: "bad type", spec: "type: cron\n  image: a:1", want: `spec.type: "cron" is not an app type; use one of`},
		{name: "missing image", spec: "type: web", want: "zz.yaml: spec.image: missing; set the image"},
		{name: "bad image", spec: "type: web\n  image: 'a b:1'", want: `spec.image: "a b:1" is not an image reference`},
		{name: "upper-case repository", spec: "type: web\n  image: Registry.local/Shop:1.0", want: `spec.image: "Registry.local/Shop:1.0": the repository "Registry.local/Shop" is not valid: repository name (Shop) must be lowercase; use repository[:tag][@sha256:digest], e.g. registry.local/shop:1.4.2 (the path in lower case)`},
		{name: "empty path component", spec: "type: web\n  image: registry.local//shop:1", want: `the repository "registry.local//shop" is not valid`},
		{name: "two tags", spec: "type: web\n  image: registry.local/shop:1.0:2\n  version: '2'", want: `spec.image: "registry.local/shop:1.0:2": it has two tags`},
		{name: "bad tag beside a version", spec: "type: web\n  image: registry.local/shop:.1\n  version: '1'", want: `spec.image: "registry.local/shop:.1": the tag ".1" is not valid`},
		{name: "short digest", spec: "type: web\n  image: registry.local/shop@sha256:abc\n  version: '1'", want: `the digest "sha256:abc" is not valid`},
		{name: "memory in bytes", spec: "type: web\n  image: a:1\n  memory: '512'", want: "spec.memory: 512 is 512 bytes; write 512Mi for 512 mebibytes"},
		{name: "memory in millibytes", spec: "type: web\n  image: a:1\n  memory: 100m", want: "spec.memory: 100m is under 1Mi (1 bytes), the least memory; write at least 1Mi, e.g. 512Mi or 2Gi"},
		{name: "cpu in cores meant millicores", spec: "type: web\n  image: a:1\n  cpu: '2000'", want: "spec.cpu: 2000 is 2000 cores; write 2000m for 2 core(s) (millicores), or 2000000m if 2000 cores are meant"},
		{name: "cpu in hundreds meant millicores", spec: "type: web\n  image: a:1\n  cpu: '500'", want: "spec.cpu: 500 is 500 cores; write 500m for 0.5 core(s) (millicores), or 500000m if 500 cores are meant"},
		{name: "volume in bytes", spec: "type: web\n  image: a:1\n  replicas: 1\n  pvc: {size: '10', mountPath: /data}", want: "spec.pvc.size: 10 is 10 bytes; write 10Mi for 10 mebibytes"},
		{name: "volume over the config files", spec: "type: web\n  image: a:1\n  replicas: 1\n  configFiles: {a: b}\n  pvc: {size: 1Gi, mountPath: /etc/zz}", want: "spec.pvc.mountPath: /etc/zz is spec.configDir /etc/zz or inside it, which is read-only; mount the volume elsewhere, e.g. /data, or put configDir inside the volume, e.g. /data/conf"},
		{name: "volume inside the config files", spec: "type: web\n  image: a:1\n  replicas: 1\n  configFiles: {a: b}\n  configDir: /data\n  pvc: {size: 1Gi, mountPath: /data/db/}", want: "spec.pvc.mountPath: /data/db/ is spec.configDir /data or inside it"},
		{name: "no version", spec: "type: web\n  image: registry.local/shop", want: "spec.version: missing; set spec.version or give --version 1.4.2, or tag spec.image (shop:1.4.2)"},
		{name: "bad version", spec: "type: web\n  image: a:1\n  version: 'v 1'", want: `spec.version: "v 1" is not a valid label value`},
		{name: "negative replicas", spec: "type: web\n  image: a:1\n  replicas: -1", want: "spec.replicas: -1 is negative"},
		{name: "port out of range", spec: "type: rpc\n  image: a:1\n  port: 70000", want: "zz.yaml: spec.port: 70000 is out of range; use a port from 1 to 65535"},
		{name: "worker with port", spec: "type: worker\n  image: a:1\n  port: 80", want: "spec.port: a worker serves no port"},
		{name: "bad health path", spec: "type: web\n  image: a:1\n  healthPath: health", want: `spec.healthPath: "health" is not a URL path; use a path such as /health`},
		{name: "health check on web", spec: "type: web\n  image: a:1\n  healthCheck: grpc", want: "spec.healthCheck: a web app has no choice of health check; remove spec.healthCheck"},
		{name: "unknown health check", spec: "type: rpc\n  image: a:1\n  healthCheck: http", want: `spec.healthCheck: "http" is not a health check; use tcp (a connect to the port) or grpc (the gRPC health protocol)`},
		{name: "health path on rpc", spec: "type: rpc\n  image: a:1\n  healthPath: /h", want: "spec.healthPath: a rpc app has no HTTP health check"},
		{name: "bad group", spec: "type: web\n  image: a:1\n  group: 'a b'", want: `spec.group: "a b" is not a valid label value`},
		{name: "bad pool", spec: "type: web\n  image: a:1\n  pool: '-x'", want: `spec.pool: "-x" is not a valid label value`},
		{name: "bad env name", spec: "type: web\n  image: a:1\n  env: {'1X': a}", want: "spec.env.1X: is not a valid environment variable name"},
		{name: "bad config file", spec: "type: web\n  image: a:1\n  configFiles: {'a/b': x}", want: "spec.configFiles.a/b: is not a valid file name"},
		{name: "relative config dir", spec: "type: web\n  image: a:1\n  configFiles: {a: x}\n  configDir: etc", want: `spec.configDir: "etc" is not an absolute path`},
		{name: "bad anti-affinity", spec: "type: web\n  image: a:1\n  antiAffinity: hard", want: `spec.antiAffinity: "hard" is not a mode; use preferred or required`},
		{name: "ingress on worker", spec: "type: worker\n  image: a:1\n  ingress: {host: a.example.com}", want: "spec.ingress: a worker app is not served over HTTP"},
		{name: "bad ingress host", spec: "type: web\n  image: a:1\n  ingress: {host: 'A_B'}", want: `spec.ingress.host: "A_B" is not a host name`},
		{name: "bad ingress path", spec: "type: web\n  image: a:1\n  ingress: {host: a.io, path: x}", want: `spec.ingress.path: "x" is not a URL path`},
		{name: "hpa min", spec: "type: web\n  image: a:1\n  hpa: {min: 0, max: 3}", want: "spec.hpa.min: 0 is below 1"},
		{name: "hpa max", spec: "type: web\n  image: a:1\n  hpa: {min: 4, max: 3}", want: "spec.hpa.max: 3 is below min 4"},
		{name: "hpa percent", spec: "type: web\n  image: a:1\n  hpa: {min: 1, max: 3, cpuPercent: 150}", want: "spec.hpa.cpuPercent: 150 is out of range"},
		{name: "pvc shared by replicas", spec: "type: web\n  image: a:1\n  pvc: {size: 1Gi, mountPath: /data}",
			want: "spec.pvc.accessMode: a ReadWriteOnce volume serves one node, but up to 2 pods share it; use replicas: 1"},
		{name: "pvc shared by hpa", spec: "type: web\n  image: a:1\n  replicas: 1\n  hpa: {min: 1, max: 4}\n  pvc: {size: 1Gi, mountPath: /data}",
			want: "but up to 4 pods share it"},
		{name: "secret files: relative path", spec: "type: web\n  image: a:1\n  secretFiles: [{secret: tls, mountPath: tls}]", want: `spec.secretFiles[0].mountPath: "tls" is not an absolute path; use e.g. /etc/tls`},
		{name: "secret files: root", spec: "type: web\n  image: a:1\n  secretFiles: [{secret: tls, mountPath: /}]", want: `spec.secretFiles[0].mountPath: is the root of the container's file system`},
		{name: "secret files: bad name", spec: "type: web\n  image: a:1\n  secretFiles: [{secret: TLS_1, mountPath: /etc/tls}]", want: `spec.secretFiles[0].secret: "TLS_1" is not`},
		{name: "secret files: bad key", spec: "type: web\n  image: a:1\n  secretFiles: [{secret: tls, mountPath: /etc/tls, keys: ['a b']}]", want: `spec.secretFiles[0].keys[0]: "a b" is not a Secret key`},
		{name: "secret files: key twice", spec: "type: web\n  image: a:1\n  secretFiles: [{secret: tls, mountPath: /etc/tls, keys: [ca.crt, ca.crt]}]", want: `spec.secretFiles[0].keys[1]: "ca.crt" is listed twice`},
		{name: "secret files: two at one path", spec: "type: web\n  image: a:1\n  secretFiles: [{secret: a, mountPath: /etc/tls}, {secret: b, mountPath: /etc/tls/}]", want: `spec.secretFiles[1].mountPath: /etc/tls/ is also spec.secretFiles[0].mountPath; give each mount a directory of its own`},
		{name: "secret files: inside another", spec: "type: web\n  image: a:1\n  secretFiles: [{secret: a, mountPath: /etc/tls}, {secret: b, mountPath: /etc/tls/ca}]", want: `spec.secretFiles[1].mountPath: /etc/tls/ca is inside spec.secretFiles[0].mountPath /etc/tls, which is read-only`},
		{name: "secret files: holding another", spec: "type: web\n  image: a:1\n  secretFiles: [{secret: a, mountPath: /etc/tls/ca}, {secret: b, mountPath: /etc/tls}]", want: `spec.secretFiles[1].mountPath: spec.secretFiles[0].mountPath /etc/tls/ca is inside /etc/tls, which is read-only`},
		{name: "secret files: inside the config files", spec: "type: web\n  image: a:1\n  configFiles: {a: b}\n  secretFiles: [{secret: a, mountPath: /etc/zz/tls}]", want: `spec.secretFiles[0].mountPath: /etc/zz/tls is inside spec.configDir /etc/zz, which is read-only`},
		{name: "secret files: holding the volume", spec: "type: web\n  image: a:1\n  replicas: 1\n  pvc: {size: 1Gi, mountPath: /data/db}\n  secretFiles: [{secret: a, mountPath: /data}]", want: `spec.secretFiles[0].mountPath: spec.pvc.mountPath /data/db is inside /data, which is read-only`},
		{name: "secret files: over the token", spec: "type: web\n  image: a:1\n  secretFiles: [{secret: a, mountPath: /var/run/secrets}]", want: "spec.secretFiles[0].mountPath: /var/run/secrets holds or is inside /var/run/secrets/kubernetes.io/serviceaccount, where the kubelet mounts the pod's ServiceAccount token"},
		{name: "secret files: in /proc", spec: "type: web\n  image: a:1\n  secretFiles: [{secret: a, mountPath: /proc/x}]", want: "spec.secretFiles[0].mountPath: /proc/x is inside a file system the container runtime provides"},
		{name: "secret files: too many", spec: "type: web\n  image: a:1\n  secretFiles: [" + strings.Repeat("{secret: a, mountPath: /a},", 17) + "]", want: `spec.secretFiles: has 17 entries; mount at most 16 Secrets`},
		{name: "service on a worker", spec: "type: worker\n  image: a:1\n  service: {type: LoadBalancer}", want: "spec.service: a worker app has no Service; remove spec.service or use type web, java or rpc"},
		{name: "service type case", spec: "type: web\n  image: a:1\n  service: {type: loadbalancer}", want: `spec.service.type: "loadbalancer" is not a Service type (the case matters); use ClusterIP, NodePort or LoadBalancer`},
		{name: "service type", spec: "type: web\n  image: a:1\n  service: {type: ExternalName}", want: `spec.service.type: "ExternalName" is not a Service type; use ClusterIP (inside the cluster), NodePort or LoadBalancer`},
		{name: "service annotation", spec: "type: web\n  image: a:1\n  service: {type: LoadBalancer, annotations: {'a b': x}}", want: "spec.service.annotations.a b: is not a valid annotation key"},
		{name: "traffic policy inside", spec: "type: web\n  image: a:1\n  service: {externalTrafficPolicy: Local}", want: "spec.service.externalTrafficPolicy: applies to traffic from outside the cluster; set service.type to NodePort or LoadBalancer"},
		{name: "traffic policy", spec: "type: web\n  image: a:1\n  service: {type: NodePort, externalTrafficPolicy: local}", want: `spec.service.externalTrafficPolicy: "local" is not a policy; use Cluster or Local`},
		{name: "source range", spec: "type: web\n  image: a:1\n  service: {type: LoadBalancer, loadBalancerSourceRanges: [10.0.0.0]}", want: `spec.service.loadBalancerSourceRanges[0]: "10.0.0.0" is not a CIDR; use e.g. 203.0.113.0/24`},
		{name: "source range with host bits", spec: "type: web\n  image: a:1\n  service: {type: LoadBalancer, loadBalancerSourceRanges: [203.0.113.7/24]}", want: `spec.service.loadBalancerSourceRanges[0]: "203.0.113.7/24" is not a CIDR as Kubernetes writes it; write 203.0.113.0/24 (the network, with no host bits)`},
		{name: "rollout", spec: "type: web\n  image: a:1\n  rollout: recreate", want: `spec.rollout: "recreate" is not a rollout; use surge (new pods start beside the old ones) or replace`},
		{name: "service port", spec: "type: web\n  image: a:1\n  service: {port: 70000}", want: "spec.service.port: 70000 is out of range; use a port from 1 to 65535, e.g. 80"},
		{name: "service port an extra port's", spec: "type: web\n  image: a:1\n  ports: [{name: metrics, port: 80}]\n  service: {port: 80}", want: "spec.service.port: 80 is an extra port's (spec.ports) on the Service too"},
		{name: "source range without a load balancer", spec: "type: web\n  image: a:1\n  service: {type: NodePort, loadBalancerSourceRanges: [10.0.0.0/8]}", want: "spec.service.loadBalancerSourceRanges: applies to a load balancer only"},
		{name: "empty init command", spec: "type: web\n  image: a:1\n  initCommand: ['', up]", want: "spec.initCommand[0]: is empty; name the program to run"},
		{name: "pvc access mode", spec: "type: web\n  image: a:1\n  pvc: {size: 1Gi, mountPath: /d, accessMode: rw}", want: `spec.pvc.accessMode: "rw" is not an access mode`},
		{name: "pvc size", spec: "type: web\n  image: a:1\n  pvc: {size: big, mountPath: /data}", want: `spec.pvc.size: "big" is not a quantity`},
		{name: "pvc path", spec: "type: web\n  image: a:1\n  replicas: 1\n  pvc: {size: 1Gi, mountPath: data}", want: `spec.pvc.mountPath: "data" is not an absolute path`},
		{name: "pvc class", spec: "type: web\n  image: a:1\n  replicas: 1\n  pvc: {size: 1Gi, mountPath: /d, storageClass: 'A B'}", want: `spec.pvc.storageClass: "A B" is not a storage class name`},
		{name: "empty command", spec: "type: web\n  image: a:1\n  command: ['', x]", want: "spec.command: starts with an empty program name"},
		{name: "empty preStop", spec: "type: web\n  image: a:1\n  preStop: [' ']", want: "spec.preStop: starts with an empty program name"},
		{name: "reserved label", spec: "type: web\n  image: a:1\n  labels: {zz.io/app: x}", want: "spec.labels.zz.io/app: is reserved: kubectl zz sets it"},
		{name: "label a spec field sets: pool", spec: "type: web\n  image: a:1\n  labels: {zz.io/pool: gpu}", want: "spec.labels.zz.io/pool: is what spec.pool sets; set spec.pool instead"},
		{name: "label a spec field sets: group", spec: "type: web\n  image: a:1\n  labels: {zz.io/group: g}", want: "spec.labels.zz.io/group: is what spec.group sets; set spec.group instead"},
		{name: "reserved k8s label", spec: "type: web\n  image: a:1\n  labels: {app.kubernetes.io/version: x}", want: "spec.labels.app.kubernetes.io/version: is reserved"},
		{name: "reserved annotation", spec: "type: web\n  image: a:1\n  annotations: {zz.io/debug: 'true'}", want: "spec.annotations.zz.io/debug: is reserved: kubectl zz sets it; deploy with --debug instead"},
		{name: "annotation of the extender", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  annotations: {zz.io/gpu-indexes: '0'}",
			want: "spec.annotations.zz.io/gpu-indexes: is reserved to the zz extender and device plugin: they write it when they give the pod its cards"},
		{name: "annotation of the device plugin", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  annotations: {zz.io/gpu-mem-used: x}",
			want: "spec.annotations.zz.io/gpu-mem-used: is reserved to the zz extender and device plugin"},
		{name: "annotation of the preemption", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  annotations: {zz.io/gpu-nomination: x}",
			want: "spec.annotations.zz.io/gpu-nomination: is reserved to the zz extender and device plugin"},
		{name: "annotation of a record", spec: "type: web\n  image: a:1\n  annotations: {zz.io/apply-id: x}", want: "spec.annotations.zz.io/apply-id: is reserved: kubectl zz sets it"},
		{name: "annotation of the webhook", spec: "type: web\n  image: a:1\n  annotations: {zz.io/scheduler-fallback: x}", want: "spec.annotations.zz.io/scheduler-fallback: is reserved: the zz webhook sets it"},
		{name: "annotation a spec field sets: whole", spec: "type: web\n  image: a:1\n  gpuMem: 80Gi\n  annotations: {zz.io/gpu-whole: 'true'}",
			want: "spec.annotations.zz.io/gpu-whole: is what spec.gpuWhole sets; set spec.gpuWhole: true instead"},
		{name: "annotation a spec field sets: models", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  annotations: {zz.io/gpu-model: A100}",
			want: "spec.annotations.zz.io/gpu-model: is what spec.gpuModels sets; set spec.gpuModels instead"},
		{name: "annotation a spec field sets: avoid", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  annotations: {zz.io/gpu-model-avoid: T4}",
			want: "spec.annotations.zz.io/gpu-model-avoid: is what spec.avoidGpuModels sets; set spec.avoidGpuModels instead"},
		{name: "annotation a spec field sets: numa", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  annotations: {zz.io/gpu-numa-bind: 'true'}",
			want: "spec.annotations.zz.io/gpu-numa-bind: is what spec.gpuNumaBind sets; set spec.gpuNumaBind: true instead"},
		{name: "node annotation on a pod", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  annotations: {zz.io/gpu-cordon: x}", want: "spec.annotations.zz.io/gpu-cordon: is a node annotation"},
		{name: "gpu annotation zz does not read", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  annotations: {zz.io/gpu-polcy: spread}",
			want: "spec.annotations.zz.io/gpu-polcy: is not a GPU annotation zz reads on a pod; an app's GPU choices are"},
		{name: "gpu policy unknown", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  annotations: {zz.io/gpu-policy: tight}",
			want: `spec.annotations.zz.io/gpu-policy: GPU policy "tight" is unknown; use "binpack", "bestfit" or "spread"`},
		{name: "gpu policy without gpu", spec: "type: web\n  image: a:1\n  annotations: {zz.io/gpu-policy: spread}",
			want: "spec.annotations.zz.io/gpu-policy: is set without spec.gpuMem or spec.gpus"},
		{name: "gpu card empty", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  annotations: {zz.io/gpu-card: ' , '}",
			want: `spec.annotations.zz.io/gpu-card: " , " names no card`},
		{name: "priority class", spec: "type: web\n  image: a:1\n  priorityClassName: Batch_Low", want: `spec.priorityClassName: "Batch_Low" is not a PriorityClass name; use the name kubectl get priorityclass shows`},
		{name: "gpus zero", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  gpus: 0", want: "spec.gpus: 0 asks for no card, yet with spec.gpuMem it would mean one; leave spec.gpus out for one card"},
		{name: "gpus zero alone", spec: "type: web\n  image: a:1\n  gpus: 0", want: "spec.gpus: 0 asks for no card"},
		{name: "gpus negative", spec: "type: web\n  image: a:1\n  gpuMem: 4Gi\n  gpus: -1", want: "spec.gpus: -1 is out of range; use 1 to 16"},
		{name: "gpuMem in bytes, as HAMi's MiB", spec: "type: web\n  image: a:1\n  gpuMem: '4096'",
			want: "zz.yaml: spec.gpuMem: 4096 is 4096 bytes; write 4096Mi (MiB, as HAMi's gpumem) or 4Gi"},
		{name: "gpuMem in bytes, as GiB", spec: "type: web\n  image: a:1\n  gpuMem: '16'", want: "spec.gpuMem: 16 is 16 bytes; write 16Mi (MiB, as HAMi's gpumem) or 16Gi"},
		{name: "gpuMem in kilobytes", spec: "type: web\n  image: a:1\n  gpuMem: 512Ki", want: "spec.gpuMem: 512Ki is 524288 bytes; write a byte quantity such as 4Gi or 3000Mi"},
		{name: "gpuMem zero", spec: "type: web\n  image: a:1\n  gpuMem: '0'", want: `spec.gpuMem: "0" is not positive`},
		{name: "bad label key", spec: "type: web\n  image: a:1\n  labels: {'a b': x}", want: "spec.labels.a b: is not a valid key"},
		{name: "bad label value", spec: "type: web\n  image: a:1\n  labels: {team: 'a b'}", want: `spec.labels.team: "a b" is not a valid label value`},
		{name: "envFrom both", spec: "type: web\n  image: a:1\n  envFrom: [{secret: a, configMap: b}]", want: "spec.envFrom[0]: needs exactly one of secret and configMap"},
		{name: "envFrom neither", spec: "type: web\n  image: a:1\n  envFrom: [{prefix: A_}]", want: "spec.envFrom[0]: needs exactly one"},
		{name: "envFrom bad name", spec: "type: web\n  image: a:1\n  envFrom: [{secret: A_B}]", want: `spec.envFrom[0].secret: "A_B" is not an object name`},
		{name: "envFrom bad prefix", spec: "type: web\n  image: a:1\n  envFrom: [{configMap: c, prefix: 'a-'}]", want: `spec.envFrom[0].prefix: "a-" is not a valid env name prefix`},
		{name: "secretEnv unknown field", spec: "type: web\n  image: a:1\n  secretEnv: {P: {secret: s, kye: k}}", want: `spec.secretEnv.P.kye: unknown field; did you mean "key"?`},
		{name: "secretEnv bad key", spec: "type: web\n  image: a:1\n  secretEnv: {P: {secret: s, key: 'a/b'}}", want: `spec.secretEnv.P.key: "a/b" is not a Secret key`},
		{name: "secretEnv twice", spec: "type: web\n  image: a:1\n  env: {P: x}\n  secretEnv: {P: {secret: s, key: k}}", want: "spec.secretEnv.P: is also in spec.env; keep one"},
		{name: "pull secret", spec: "type: web\n  image: a:1\n  imagePullSecrets: [Reg]", want: `spec.imagePullSecrets[0]: "Reg" is not an object name`},
		{name: "port name taken", spec: "type: web\n  image: a:1\n  ports: [{name: http, port: 81}]", want: `spec.ports[0].name: "http" is taken`},
		{name: "port name", spec: "type: web\n  image: a:1\n  ports: [{name: Metrics_1, port: 81}]", want: `spec.ports[0].name: "Metrics_1" is not a port name`},
		{name: "port twice", spec: "type: web\n  image: a:1\n  ports: [{name: metrics, port: 8080}]", want: "spec.ports[0].port: 8080 is used twice"},
		{name: "port range", spec: "type: worker\n  image: a:1\n  ports: [{name: metrics, port: 0}]", want: "spec.ports[0].port: 0 is out of range"},
		{name: "port protocol", spec: "type: web\n  image: a:1\n  ports: [{name: m, port: 9, protocol: SCTP}]", want: `spec.ports[0].protocol: "SCTP" is not a protocol`},
		{name: "gpuWhole without gpuMem", spec: "type: web\n  image: a:1\n  gpus: 2\n  gpuWhole: true", want: "spec.gpuWhole: is set without spec.gpuMem"},
		{name: "gpuNumaBind without gpuMem", spec: "type: web\n  image: a:1\n  gpuNumaBind: true", want: "spec.gpuNumaBind: is set without spec.gpuMem or spec.gpus"},
		{name: "gpuModels without gpuMem", spec: "type: web\n  image: a:1\n  gpuModels: [A100]", want: "spec.gpuModels: is set without spec.gpuMem or spec.gpus"},
		{name: "gpuModels entry with a comma", spec: "type: web\n  image: a:1\n  gpuMem: 1Gi\n  gpuModels: [\"A100,H100\"]", want: `spec.gpuModels[0]: "A100,H100" is not one card model; write one model, or a part of it, per entry`},
		{name: "avoidGpuModels empty entry", spec: "type: web\n  image: a:1\n  gpuMem: 1Gi\n  avoidGpuModels: [T4, \" \"]", want: `spec.avoidGpuModels[1]: " " is not one card model`},
		{name: "gpuModels too many", spec: "type: web\n  image: a:1\n  gpuMem: 1Gi\n  gpuModels: [a1,b1,c1,d1,e1,f1,g1,h1,i1,j1,k1,l1,m1,n1,o1,p1,q1]", want: "spec.gpuModels: more than 16 card models listed"},
		{name: "gpus range", spec: "type: web\n  image: a:1\n  gpuMem: 1Gi\n  gpus: 17", want: "spec.gpus: 17 is out of range; use 1 to 16"},
		{name: "grace period", spec: "type: web\n  image: a:1\n  terminationGracePeriod: 1.5s", want: `spec.terminationGracePeriod: "1.5s" is not a duration in whole seconds`},
		{name: "env reference cycle", spec: "type: web\n  image: a:1\n  env: {A: '$(B)', B: 'x$(C)', C: '$(A)', D: '$$(D)'}", want: "spec.env.A: refers to itself through A -> $(B) -> $(C) -> $(A), which the kubelet leaves unexpanded; break the cycle, or write $$( to mean a literal $("},
		{name: "startup timeout on a worker", spec: "type: worker\n  image: a:1\n  startupTimeout: 5m", want: "spec.startupTimeout: a worker has no probes to start on; remove spec.startupTimeout, give the worker a spec.healthCommand to start on, or use type web, java or rpc"},
		{name: "startup timeout not a duration", spec: "type: web\n  image: a:1\n  startupTimeout: 5", want: "spec.startupTimeout: expected string, got number"},
		{name: "startup timeout in parts of seconds", spec: "type: web\n  image: a:1\n  startupTimeout: 1.5s", want: `spec.startupTimeout: "1.5s" is not a positive duration in whole seconds`},
		{name: "startup timeout too long", spec: "type: web\n  image: a:1\n  startupTimeout: 2h", want: "spec.startupTimeout: 2h is more than 1h0m0s"},
		{name: "health timeout on a worker", spec: "type: worker\n  image: a:1\n  healthTimeout: 5s", want: "spec.healthTimeout: a worker has no probes; remove spec.healthTimeout, give the worker a spec.healthCommand, or use type web, java or rpc"},
		{name: "health command empty", spec: "type: worker\n  image: a:1\n  healthCommand: []", want: "spec.healthCommand: is empty; name the program that checks the app and its arguments, e.g. [pg_isready, -U, app], or remove it"},
		{name: "health command without a program", spec: "type: worker\n  image: a:1\n  healthCommand: [' ', ping]", want: "spec.healthCommand: starts with an empty program name"},
		{name: "health command beside healthPath", spec: "type: web\n  image: a:1\n  healthPath: /health\n  healthCommand: [/app/check]",
			want: "spec.healthPath: is set beside spec.healthCommand, which replaces the HTTP check; remove spec.healthPath, or spec.healthCommand to check by HTTP"},
		{name: "health command beside healthPath on a worker", spec: "type: worker\n  image: a:1\n  healthPath: /health\n  healthCommand: [/app/check]",
			want: "spec.healthPath: is set beside spec.healthCommand, which replaces the HTTP check"},
		{name: "health command beside healthCheck", spec: "type: rpc\n  image: a:1\n  healthCheck: grpc\n  healthCommand: [grpc_health_probe, -addr=:8080]",
			want: "spec.healthCheck: is set beside spec.healthCommand, which replaces the check on the port; remove spec.healthCheck, or spec.healthCommand to check on the port"},
		{name: "health command as one shell line", spec: "type: worker\n  image: a:1\n  healthCommand: ['pg_isready -U app']",
			want: `spec.healthCommand[0]: "pg_isready -U app" is one program name with spaces in it: no shell splits it into words; write each word apart, e.g. [pg_isready, -U, app], or [sh, -c, "pg_isready -U app"] for a shell`},
		{name: "health command with a pipe and no shell", spec: "type: worker\n  image: a:1\n  healthCommand: [redis-cli, ping, '|', grep, PONG]",
			want: `spec.healthCommand[2]: "|" is shell syntax, but no shell runs the command: redis-cli gets it as an argument; run it in a shell: [sh, -c, "redis-cli ping | grep PONG"]`},
		{name: "health command too many arguments", spec: "type: worker\n  image: a:1\n  healthCommand: [check" + strings.Repeat(", x", 64) + "]",
			want: "spec.healthCommand: has 65 arguments, 69 bytes in all: more than 64 or 2048; put a longer check in a script in the image and run it, e.g. [/app/healthcheck]"},
		{name: "health command too long", spec: "type: worker\n  image: a:1\n  healthCommand: [sh, -c, '" + strings.Repeat("x", 2045) + "']",
			want: "spec.healthCommand: has 3 arguments, 2049 bytes in all: more than 64 or 2048"},
		{name: "health command with a Secret's variable", spec: "type: worker\n  image: a:1\n  secretEnv: {DB_USER: {secret: db, key: user}}\n  healthCommand: [pg_isready, -U, '$(DB_USER)']",
			want: `spec.healthCommand[2]: $(DB_USER) is spec.secretEnv's, which the kubelet expands to nothing in a probe (it expands spec.env's values alone); let a shell read it: [sh, -c, "... \"$DB_USER\" ..."]`},
		{name: "health command not a list", spec: "type: worker\n  image: a:1\n  healthCommand: pg_isready", want: "spec.healthCommand: expected"},
		{name: "health timeout in parts of seconds", spec: "type: web\n  image: a:1\n  healthTimeout: 1500ms", want: `spec.healthTimeout: "1500ms" is not a duration of whole seconds, at least 1s; use e.g. 5s`},
		{name: "health timeout zero", spec: "type: rpc\n  image: a:1\n  healthTimeout: 0s", want: `spec.healthTimeout: "0s" is not a duration of whole seconds, at least 1s`},
		{name: "health timeout too long", spec: "type: web\n  image: a:1\n  healthTimeout: 2m", want: "spec.healthTimeout: 2m is more than 1m0s; use at most 1m0s: a health check slower than that is a hung app"},
		{name: "min ready negative", spec: "type: web\n  image: a:1\n  minReadySeconds: -5", want: "spec.minReadySeconds: -5 is negative; use 0 (a ready pod is available at once) up to 3600, e.g. 10"},
		{name: "min ready over an hour", spec: "type: web\n  image: a:1\n  minReadySeconds: 3601", want: "spec.minReadySeconds: 3601 is more than 3600 (1h); use at most 3600: every batch of a rollout waits it out"},
		{name: "min ready a duration", spec: "type: web\n  image: a:1\n  minReadySeconds: 10s", want: `spec.minReadySeconds: expected int32, got string "10s"; write the seconds as a number: 10`},
		{name: "service account name", spec: "type: web\n  image: a:1\n  serviceAccount: Shop_Runner", want: `spec.serviceAccount: "Shop_Runner" is not an object name`},
		{name: "root with restricted", spec: "type: web\n  image: a:1\n  securityContext: {runAsUser: 0, restricted: true}", want: "spec.securityContext.runAsUser: 0 is root, which runAsNonRoot (and restricted) refuses"},
		{name: "negative group", spec: "type: web\n  image: a:1\n  securityContext: {fsGroup: -1}", want: "spec.securityContext.fsGroup: -1 is out of range"},
		{name: "unknown security field", spec: "type: web\n  image: a:1\n  securityContext: {privileged: true}", want: "spec.securityContext.privileged: unknown field"},
		{name: "ingress tls secret name", spec: "type: web\n  image: a:1\n  ingress: {host: shop.example.com, tlsSecret: Shop_TLS}", want: `spec.ingress.tlsSecret: "Shop_TLS" is not an object name`},
		{name: "ingress annotation key", spec: "type: web\n  image: a:1\n  ingress: {host: shop.example.com, annotations: {'bad key': x}}", want: "spec.ingress.annotations.bad key: is not a valid annotation key"},
		{name: "ingress wildcard in the middle", spec: "type: web\n  image: a:1\n  ingress: {host: 'shop.*.example.com'}", want: `spec.ingress.host: "shop.*.example.com" is not a host name`},
		{name: "YAML 1.1 boolean key", spec: "type: web\n  image: a:1\n  env: {Y: '1', 'N': '0'}", want: `zz.yaml: spec.env.Y: the key Y (line 5) is read as true by YAML 1.1, as Kubernetes tools read it; quote it: "Y"`},
		{name: "YAML 1.1 boolean keys, each", spec: "type: web\n  image: a:1\n  labels: {on: a}\n  env: {OFF: b}", want: `spec.env.OFF: the key OFF (line 6) is read as false by YAML 1.1`},
		{name: "grace period number", spec: "type: web\n  image: a:1\n  terminationGracePeriod: 30", want: "spec.terminationGracePeriod: expected string, got number"},
		{name: "empty file", top: "-", want: "zz.yaml: file is empty"},
		{name: "not yaml", top: "name: [", want: "zz.yaml: not valid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := tt.top
			if top == "" {
				top = "name: shop"
			}
			data := top + "\nspec:\n  " + tt.spec + "\n"
			if tt.top == "-" {
				data = " \n"
			}
			_, err := Load("zz.yaml", []byte(data))
			if err == nil {
				t.Fatalf("no error for\n%s", data)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n%v\nwant it to contain\n%s", err, tt.want)
			}
		})
	}
}

func TestFileTooLarge(t *testing.T) {
	_, err := Load("zz.yaml", []byte(validSpec+"#"+strings.Repeat("x", MaxFileSize)))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "zz.yaml: file is") || !strings.Contains(err.Error(), "keep large config out of the app spec") {
		t.Fatalf("err = %v", err)
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := Load("app.yaml", []byte("name: shop\nspec: {type: web, memory: 12GB, port: 0}\n"))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want Errors", err)
	}
	// image missing (whose missing tag is no second error), memory; port 0
	// defaults to 8080.
	if len(errs) != 2 || strings.Contains(err.Error(), "spec.version") {
		t.Fatalf("got %d errors, want image and memory:\n%v", len(errs), err)
	}
}

func TestImageTag(t *testing.T) {
	for image, want := range map[string]string{
		"shop:1.2":               "1.2",
		"reg:5000/shop":          "",
		"reg:5000/shop:v3":       "v3",
		"shop@sha256:abc":        "",
		"shop:1@sha256:abc":      "1",
		"registry.local/a/b:x-y": "x-y",
	} {
		if got := ImageTag(image); got != want {
			t.Errorf("ImageTag(%q) = %q, want %q", image, got, want)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to the decoder and to Load: neither may
// panic, and whatever Decode accepts must default and validate without
// panicking.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(validSpec))
	f.Add([]byte("name: a\nspec: {type: rpc, image: x:1, hpa: {min: 1, max: 2}, pvc: {size: 1Gi, mountPath: /d}}"))
	f.Add([]byte(`{"name":"a","spec":{"ingress":{"host":"h"}}}`))
	f.Add([]byte("spec:\n  env: {A: 1}\n  configFiles: {a: b}\n"))
	f.Add([]byte("name: a\nspec: {type: web, imgae: x:1, memory: 12GB, hpa: {mn: 1}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Load validates what decoded even beside unknown fields.
		if _, err := Load("f.yaml", data); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("load error %v does not wrap ErrInvalid", err)
		}
		app, err := Decode("f.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		app.Default()
		for _, e := range app.Validate("f.yaml") {
			if !strings.HasPrefix(e.Error(), "f.yaml: ") {
				t.Fatalf("error %q does not name the file", e)
			}
		}
	})
}

func TestSuggestInListsAndMaps(t *testing.T) {
	_, err := Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  envFrom: [{secrt: s}]\n"))
	if err == nil || !strings.Contains(err.Error(), `did you mean "secret"?`) {
		t.Fatalf("err = %v", err)
	}
}

// TestGPUChoices: the GPU settings a user chooses pass, and spec.gpus is
// defaulted only when it is left out.
func TestGPUChoices(t *testing.T) {
	tests := []struct {
		name      string
		spec      string // appended to the spec block, indented by two
		wantCards int32
	}{
		{name: "gpuMem alone: one card", spec: "gpuMem: 4Gi\n", wantCards: 1},
		{name: "gpus given", spec: "gpuMem: 4Gi\n  gpus: 3\n", wantCards: 3},
		{name: "gpus alone: whole cards of the pool", spec: "pool: a100\n  gpus: 2\n", wantCards: 2},
		{name: "no GPU", spec: "memory: 1Gi\n", wantCards: 0},
		{name: "placement policy, cards, and the webhook's switches", spec: "gpuMem: 4Gi\n  annotations: {zz.io/gpu-policy: spread, zz.io/gpu-card: 'GPU-8f2b,GPU-1a2b', zz.io/gpu-card-avoid: GPU-3c4d, zz.io/inject-disable: lxcfs, zz.io/log-agent: 'on'}\n", wantCards: 1},
		{name: "priority", spec: "gpuMem: 4Gi\n  priorityClassName: batch-low\n", wantCards: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, err := Load("zz.yaml", []byte("name: train\nspec:\n  type: worker\n  image: reg/train:1\n  "+tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			if got := app.Spec.Cards(); got != tt.wantCards {
				t.Errorf("cards = %d, want %d", got, tt.wantCards)
			}
			if app.Spec.AsksGPU() != (tt.wantCards > 0) {
				t.Errorf("AsksGPU = %v with %d cards", app.Spec.AsksGPU(), tt.wantCards)
			}
		})
	}
}

// TestGPUsRecorded: revision records written while spec.gpus was a plain
// number load as they were, and marshal back to the same bytes.
func TestGPUsRecorded(t *testing.T) {
	for _, rec := range []string{
		`{"apiVersion":"zz.io/v1","kind":"App","name":"train","spec":{"type":"worker","image":"reg/train:1","gpuMem":"4Gi","gpus":2}}`,
		`{"apiVersion":"zz.io/v1","kind":"App","name":"train","spec":{"type":"worker","image":"reg/train:1","gpuMem":"4Gi"}}`,
		`{"apiVersion":"zz.io/v1","kind":"App","name":"train","spec":{"type":"worker","image":"reg/train:1"}}`,
	} {
		var app App
		if err := json.Unmarshal([]byte(rec), &app); err != nil {
			t.Fatalf("%s: %v", rec, err)
		}
		out, err := json.Marshal(&app)
		if err != nil || string(out) != rec {
			t.Errorf("record %s\nmarshals back as %s (%v)", rec, out, err)
		}
	}
}

// TestIngressWildcardHost: a wildcard host, which an Ingress takes, passes
// (an app-developer audit: per-tenant SaaS hosts were refused).
func TestIngressWildcardHost(t *testing.T) {
	if _, err := Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  ingress: {host: '*.example.com', tlsSecret: wildcard-tls}\n")); err != nil {
		t.Fatal(err)
	}
}

// TestYAML11KeyWithOtherProblems: a coerced key is said once, as what it
// is, beside the spec's other problems (every problem at once).
func TestYAML11KeyWithOtherProblems(t *testing.T) {
	_, err := Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  replicas: -1\n  env: {Y: '1'}\n  on: x\n"))
	if err == nil || !strings.Contains(err.Error(), "spec.env.Y: the key Y (line 6) is read as true") || !strings.Contains(err.Error(), "spec.on: the key on (line 7)") ||
		!strings.Contains(err.Error(), "spec.replicas: -1 is negative") || strings.Contains(err.Error(), "spec.true") {
		t.Errorf("a coerced key beside other problems: %v", err)
	}
}

// TestUnknownFieldsInKubernetesWords: a Kubernetes field name is answered
// with the spec's, and the known fields are listed once per place.
func TestUnknownFieldsInKubernetesWords(t *testing.T) {
	_, err := Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  resources: {}\n  foo: 1\n  bar: 2\n"))
	if err == nil || !strings.Contains(err.Error(), "spec.resources: unknown field; Kubernetes' resources are spec.cpu and spec.memory here") ||
		strings.Count(err.Error(), "known fields here:") != 1 || !strings.Contains(err.Error(), "spec.bar: unknown field; the known fields are listed below") {
		t.Errorf("unknown fields: %v", err)
	}
}

// TestEnvCycleSaidOnce: one cycle is one error, on its first name.
func TestEnvCycleSaidOnce(t *testing.T) {
	_, err := Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  env: {A: '$(B)', B: '$(A)'}\n"))
	if err == nil || strings.Count(err.Error(), "refers to itself") != 1 || !strings.Contains(err.Error(), "spec.env.A: refers to itself through A -> $(B) -> $(A)") {
		t.Errorf("a two-variable cycle: %v", err)
	}
}

// TestEnvReferencesBesideEnvFrom: with envFrom, a variable may refer to
// itself (its envFrom value, which the kubelet sets first), and the volume
// may hold the config files.
func TestEnvReferencesBesideEnvFrom(t *testing.T) {
	for _, spec := range []string{
		"  envFrom: [{configMap: common}]\n  env: {JAVA_OPTS: '$(JAVA_OPTS) -Xmx1g', PATH: '$(PATH):/x'}\n",
		"  replicas: 1\n  configFiles: {a: b}\n  configDir: /data/conf\n  pvc: {size: 1Gi, mountPath: /data}\n",
	} {
		if _, err := Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n"+spec)); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
}

// TestCheckName: the name rule alone, in Validate's words, and NameRule
// says it of every name CheckName refuses.
func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name, want string
	}{
		{"shop-api", ""},
		{"s", ""},
		{"my_app", `--name: "my_app" is not a valid app name; use lower-case letters, digits and '-', starting with a letter (e.g. shop-api)`},
		{"MyValue", `--name: "MyValue" is not a valid app name`},
		{"1shop", `--name: "1shop" is not a valid app name`},
		{"a.b", `--name: "a.b" is not a valid app name`},
		{"", `--name: missing`},
		{strings.Repeat("a", 41), `--name: "` + strings.Repeat("a", 41) + `" is 41 characters; use at most 40`},
		{"shop-canary", `--name: "shop-canary" ends in -canary`},
	} {
		err := CheckName("--name", "", tc.name)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%q: %v, want %s", tc.name, err, tc.want)
		}
	}
	if !strings.Contains(NameRule, "at most 40") || !strings.Contains(NameRule, "-canary") {
		t.Errorf("NameRule: %s", NameRule)
	}
}
