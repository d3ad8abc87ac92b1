package appspec

import (
	"strings"
	"testing"
)

// TestSidecars: spec.sidecars' refusals, each the whole error (field, what
// is wrong and the fix), and specs it takes; "" wants no error.
func TestSidecars(t *testing.T) {
	proxy := "{name: proxy, image: 'p:1'"
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"one, defaults", "sidecars: [" + proxy + "}]", ""},
		{"all fields, sharing a scratch directory and a Secret", "scratch: [{mountPath: /var/log/app}]\n  secretFiles: [{secret: a, mountPath: /etc/db}]\n  sidecars: [{name: shipper, image: 'reg/fluent-bit:3.1', command: [/fluent-bit], args: [-c, /x],\n    env: {A: '$(B)/x', B: b}, cpu: 50m, memory: 64Mi, ports: [{name: shipper-m, port: 2020}], mounts: [/var/log/app, /etc/db]}]", ""},
		{"mounts the claim and the config files", "replicas: 1\n  pvc: {size: 1Gi, mountPath: /data}\n  configFiles: {a: b}\n  sidecars: [" + proxy + ", mounts: [/data, /etc/zz]}]", ""},
		{"missing name", "sidecars: [{image: 'p:1'}]",
			`zz.yaml: spec.sidecars[0].name: missing; name the sidecar, e.g. name: db-proxy`},
		{"name not a DNS label", "sidecars: [{name: DB_proxy, image: 'p:1'}]",
			`zz.yaml: spec.sidecars[0].name: "DB_proxy" is not a container name; use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit, e.g. db-proxy`},
		{"the app container's name", "sidecars: [{name: app, image: 'p:1'}]",
			`zz.yaml: spec.sidecars[0].name: "app" is the app's container; give the sidecar a name of its own, e.g. db-proxy`},
		{"the init container's name", "sidecars: [{name: init, image: 'p:1'}]",
			`zz.yaml: spec.sidecars[0].name: "init" is spec.initCommand's init container; give the sidecar a name of its own, e.g. db-proxy`},
		{"two of one name", "sidecars: [" + proxy + "}, " + proxy + "}]",
			`zz.yaml: spec.sidecars[1].name: "proxy" is spec.sidecars[0].name; give the sidecar a name of its own, e.g. db-proxy`},
		{"too many", "sidecars: [" + strings.Repeat(proxy+"},", 9) + "]",
			`zz.yaml: spec.sidecars: has 9 entries; run at most 8 sidecars (or describe the pod with a chart)`},
		{"missing image", "sidecars: [{name: proxy}]",
			`zz.yaml: spec.sidecars[0].image: missing; set the image to run, e.g. gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1`},
		{"upper-case image", "sidecars: [{name: proxy, image: Reg/Proxy:1}]",
			`zz.yaml: spec.sidecars[0].image: "Reg/Proxy:1": the repository "Reg/Proxy" is not valid: repository name (Proxy) must be lowercase; use repository[:tag][@sha256:digest], e.g. gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1 (the path in lower case)`},
		{"bad tag", "sidecars: [{name: proxy, image: 'p:-1'}]",
			`zz.yaml: spec.sidecars[0].image: "p:-1": the tag "-1" is not valid`},
		{"cpu in cores meant as millicores", "sidecars: [" + proxy + ", cpu: '100'}]",
			`zz.yaml: spec.sidecars[0].cpu: 100 is 100 cores; write 100m for 0.1 core(s) (millicores), or 100000m if 100 cores are meant`},
		{"memory in bytes", "sidecars: [" + proxy + ", memory: '128'}]",
			`zz.yaml: spec.sidecars[0].memory: 128 is 128 bytes; write 128Mi for 128 mebibytes`},
		{"memory not a quantity", "sidecars: [" + proxy + ", memory: 128MB}]",
			`zz.yaml: spec.sidecars[0].memory: "128MB" is not a quantity; use e.g. 128Mi`},
		{"env name", "sidecars: [" + proxy + ", env: {'A=B': x}}]",
			`zz.yaml: spec.sidecars[0].env.A=B: is not a valid environment variable name; use letters, digits and '_', e.g. LOG_LEVEL`},
		{"env cycle", "sidecars: [" + proxy + ", env: {A: '$(B)', B: '$(A)'}}]",
			`zz.yaml: spec.sidecars[0].env.A: refers to itself through A -> $(B) -> $(A), which the kubelet leaves unexpanded; break the cycle, or write $$( to mean a literal $(`},
		{"empty program", "sidecars: [" + proxy + ", command: ['']}]",
			`zz.yaml: spec.sidecars[0].command: starts with an empty program name`},
		{"the app's port", "sidecars: [" + proxy + ", ports: [{name: proxy, port: 8080}]}]",
			`zz.yaml: spec.sidecars[0].ports[0].port: 8080 is also spec.port: the pod's containers share its network, so only one can listen on it; give the sidecar another port`},
		{"an extra port's number", "ports: [{name: metrics, port: 7070}]\n  sidecars: [" + proxy + ", ports: [{name: proxy, port: 7070}]}]",
			`zz.yaml: spec.sidecars[0].ports[0].port: 7070 is also spec.ports[0].port: the pod's containers share its network`},
		{"another sidecar's port", "sidecars: [" + proxy + ", ports: [{name: p, port: 5432}]}, {name: b, image: 'b:1', ports: [{name: q, port: 5432}]}]",
			`zz.yaml: spec.sidecars[1].ports[0].port: 5432 is also spec.sidecars[0].ports[0].port: the pod's containers share its network`},
		{"an app port's name", "ports: [{name: metrics, port: 7070}]\n  sidecars: [" + proxy + ", ports: [{name: metrics, port: 9090}]}]",
			`zz.yaml: spec.sidecars[0].ports[0].name: "metrics" is also spec.ports[0].name; give each port of the pod a name of its own`},
		{"http", "sidecars: [" + proxy + ", ports: [{name: http, port: 9090}]}]",
			`zz.yaml: spec.sidecars[0].ports[0].name: "http" is also spec.port's name`},
		{"unnamed port", "sidecars: [{name: envoy, image: 'envoyproxy/envoy:v1.31.0', ports: [{port: 9901}]}]",
			`zz.yaml: spec.sidecars[0].ports[0].name: missing: a sidecar port needs a name (the Service targets the front port by it, as a probe or a PodMonitor does); name it, e.g. name: envoy-9901`},
		{"unnamed port, a long sidecar name", "sidecars: [{name: oauth2-proxy, image: 'p:1', ports: [{port: 4180}]}]",
			`zz.yaml: spec.sidecars[0].ports[0].name: missing: a sidecar port needs a name (the Service targets the front port by it, as a probe or a PodMonitor does); name it, e.g. name: port-4180`},
		{"ZZ_APP_PORT of its own", "sidecars: [" + proxy + ", env: {ZZ_APP_PORT: '8080'}}]",
			`zz.yaml: spec.sidecars[0].env.ZZ_APP_PORT: is set by kubectl zz in every sidecar, to spec.port; drop it, and refer to it as $(ZZ_APP_PORT) in args or env: a value of its own would stay behind when spec.port changes`},
		{"port out of range", "sidecars: [" + proxy + ", ports: [{name: p, port: 70000}]}]",
			`zz.yaml: spec.sidecars[0].ports[0].port: 70000 is out of range; use a port from 1 to 65535, e.g. 5432`},
		{"protocol", "sidecars: [" + proxy + ", ports: [{name: p, port: 5432, protocol: SCTP}]}]",
			`zz.yaml: spec.sidecars[0].ports[0].protocol: "SCTP" is not a protocol; use TCP or UDP`},
		{"a mount the app lacks", "scratch: [{mountPath: /tmp}]\n  sidecars: [" + proxy + ", mounts: [/var/log]}]",
			`zz.yaml: spec.sidecars[0].mounts[0]: /var/log is not a mount of the app's; list one of /tmp (a sidecar shares the app's directories at the same paths), or add it to spec.scratch`},
		{"a mount, the app having none", "sidecars: [" + proxy + ", mounts: [/var/log]}]",
			`zz.yaml: spec.sidecars[0].mounts[0]: /var/log is not a mount of the app's: it has none; give the app the directory first (spec.scratch: [{mountPath: /var/log}] to share files with the sidecar), then list it here`},
		{"a mount twice", "scratch: [{mountPath: /tmp}]\n  sidecars: [" + proxy + ", mounts: [/tmp, /tmp/]}]",
			`zz.yaml: spec.sidecars[0].mounts[1]: /tmp/ is listed twice; list each mount once`},
		{"an auth proxy in front of the app", "sidecars: [" + proxy + ", ports: [{name: auth, port: 4180, front: true}, {name: auth-m, port: 9090}]}]", ""},
		{"front on the app's extra port", "ports: [{name: metrics, port: 7070, front: true}]",
			`zz.yaml: spec.ports[0].front: is for a sidecar's port; remove it (spec.port takes the app's traffic), or set it on the port of the sidecar in front of the app: spec.sidecars[].ports[].front`},
		{"two fronts", "sidecars: [" + proxy + ", ports: [{name: a, port: 4180, front: true}]}, {name: b, image: 'b:1', ports: [{name: b, port: 4181, front: true}]}]",
			`zz.yaml: spec.sidecars[1].ports[0].front: is also spec.sidecars[0].ports[0].front; put one sidecar port in front of the app: the Service's main port has one target`},
		{"a UDP front", "sidecars: [" + proxy + ", ports: [{name: a, port: 53, protocol: UDP, front: true}]}]",
			`zz.yaml: spec.sidecars[0].ports[0].front: port 53 is UDP; front a TCP port: the Service's main port and the Ingress carry TCP`},
		{"a worker's front", "type: worker\n  sidecars: [" + proxy + ", ports: [{name: a, port: 4180, front: true}]}]",
			`zz.yaml: spec.sidecars[0].ports[0].front: a worker app has no Service to put a sidecar in front of; remove front, or use type web, java or rpc`},
		{"startup on an HTTP path", "sidecars: [" + proxy + ", ports: [{name: db, port: 5432}, {name: health, port: 9090}], startup: {port: health, path: /startup}}]", ""},
		{"startup on a TCP port, a worker's, bounded by startupTimeout", "type: worker\n  startupTimeout: 2m\n  sidecars: [" + proxy + ", ports: [{name: db, port: 5432}], startup: {port: db}}]", ""},
		{"startupTimeout on a worker with no sidecar startup", "type: worker\n  startupTimeout: 2m",
			`zz.yaml: spec.startupTimeout: a worker has no probes to start on; remove spec.startupTimeout, give the worker a spec.healthCommand to start on, or use type web, java or rpc (or give a sidecar a startup: it bounds that)`},
		{"startup without a port", "sidecars: [" + proxy + ", ports: [{name: db, port: 5432}], startup: {path: /startup}}]",
			`zz.yaml: spec.sidecars[0].startup.port: missing; name the port of the sidecar that answers once it is up, e.g. port: db (and path: /startup for an HTTP check)`},
		{"startup on the app's port", "sidecars: [" + proxy + ", ports: [{name: db, port: 5432}], startup: {port: http}}]",
			`zz.yaml: spec.sidecars[0].startup.port: "http" is not a port of the sidecar; name one of db (its ports, not the app's)`},
		{"startup on a sidecar with no port", "sidecars: [" + proxy + ", startup: {port: db}}]",
			`zz.yaml: spec.sidecars[0].startup.port: "db" is not a port of the sidecar: it lists none; add it to spec.sidecars[0].ports, e.g. {name: db, port: 5432}`},
		{"startup on a UDP port", "sidecars: [" + proxy + ", ports: [{name: dns, port: 53, protocol: UDP}], startup: {port: dns}}]",
			`zz.yaml: spec.sidecars[0].startup.port: port dns is UDP; name a TCP port of the sidecar: the kubelet connects over TCP`},
		{"startup path not absolute", "sidecars: [" + proxy + ", ports: [{name: health, port: 9090}], startup: {port: health, path: startup}}]",
			`zz.yaml: spec.sidecars[0].startup.path: "startup" does not start with /; use an absolute path, e.g. /startup (or leave it out for a TCP connect)`},
		{"its own Secret files, at a path the app's mount takes in the app", "secretFiles: [{secret: app-tls, mountPath: /etc/tls}]\n  sidecars: [" + proxy + ", secretFiles: [{secret: sa, mountPath: /etc/tls, keys: [key.json]}, {secret: oauth, mountPath: /etc/oauth}]}]", ""},
		{"a Secret file inside a scratch directory it shares", "scratch: [{mountPath: /run/px}]\n  sidecars: [" + proxy + ", mounts: [/run/px], secretFiles: [{secret: sa, mountPath: /run/px/keys}]}]", ""},
		{"a Secret file's bad name", "sidecars: [" + proxy + ", secretFiles: [{secret: SA, mountPath: /etc/sa}]}]",
			`zz.yaml: spec.sidecars[0].secretFiles[0].secret: "SA" is not`},
		{"a Secret file's key twice", "sidecars: [" + proxy + ", secretFiles: [{secret: sa, mountPath: /etc/sa, keys: [k, k]}]}]",
			`zz.yaml: spec.sidecars[0].secretFiles[0].keys[1]: "k" is listed twice; list each key once`},
		{"a Secret file at a relative path", "sidecars: [" + proxy + ", secretFiles: [{secret: sa, mountPath: etc/sa}]}]",
			`zz.yaml: spec.sidecars[0].secretFiles[0].mountPath: "etc/sa" is not an absolute path; use e.g. /etc/proxy`},
		{"a Secret file at a path it shares", "scratch: [{mountPath: /tmp}]\n  sidecars: [" + proxy + ", mounts: [/tmp], secretFiles: [{secret: sa, mountPath: /tmp}]}]",
			`zz.yaml: spec.sidecars[0].secretFiles[0].mountPath: /tmp is also spec.sidecars[0].mounts[0]; give each mount a directory of its own`},
		{"a Secret file inside a read-only mount it shares", "secretFiles: [{secret: db, mountPath: /etc/db}]\n  sidecars: [" + proxy + ", mounts: [/etc/db], secretFiles: [{secret: sa, mountPath: /etc/db/sa}]}]",
			`zz.yaml: spec.sidecars[0].secretFiles[0].mountPath: /etc/db/sa is inside spec.sidecars[0].mounts[0] /etc/db, which is read-only; mount it beside it, e.g. /etc/proxy`},
		{"two Secret files at one path", "sidecars: [" + proxy + ", secretFiles: [{secret: a, mountPath: /etc/sa}, {secret: b, mountPath: /etc/sa/}]}]",
			`zz.yaml: spec.sidecars[0].secretFiles[1].mountPath: /etc/sa/ is also spec.sidecars[0].secretFiles[0].mountPath`},
		// Its own Secret env, as the app's is checked; a name the app's
		// env or Secret env has is the sidecar's to use too (another
		// container).
		{"its own Secret env", "env: {CLIENT_SECRET: x}\n  secretEnv: {DB_PASSWORD: {secret: db, key: pw}}\n  sidecars: [" + proxy + ", env: {A: 'Bearer $(CLIENT_SECRET)'},\n    secretEnv: {CLIENT_SECRET: {secret: oauth, key: client-secret}, DB_PASSWORD: {secret: px-db, key: pw}}}]", ""},
		{"a Secret env name", "sidecars: [" + proxy + ", secretEnv: {'A=B': {secret: s, key: k}}}]",
			`zz.yaml: spec.sidecars[0].secretEnv.A=B: is not a valid environment variable name; use letters, digits and '_', e.g. DB_PASSWORD`},
		{"a Secret env name also in its env", "sidecars: [" + proxy + ", env: {P: x}, secretEnv: {P: {secret: s, key: k}}}]",
			`zz.yaml: spec.sidecars[0].secretEnv.P: is also in spec.sidecars[0].env; keep one`},
		{"a Secret env's Secret name", "sidecars: [" + proxy + ", secretEnv: {P: {secret: S, key: k}}}]",
			`zz.yaml: spec.sidecars[0].secretEnv.P.secret: "S" is not an object name; use the name kubectl get shows, e.g. db-credentials`},
		{"a Secret env's key", "sidecars: [" + proxy + ", secretEnv: {P: {secret: s, key: 'a/b'}}}]",
			`zz.yaml: spec.sidecars[0].secretEnv.P.key: "a/b" is not a Secret key; use the key as kubectl get secret -o yaml shows it`},
		{"a Secret env's unknown field", "sidecars: [" + proxy + ", secretEnv: {P: {secret: s, kye: k}}}]",
			`zz.yaml: spec.sidecars[0].secretEnv.P.kye: unknown field; did you mean "key"?`},
		{"ZZ_APP_PORT of its own from a Secret", "sidecars: [" + proxy + ", secretEnv: {ZZ_APP_PORT: {secret: s, key: k}}}]",
			`zz.yaml: spec.sidecars[0].secretEnv.ZZ_APP_PORT: is set by kubectl zz in every sidecar, to spec.port; drop it`},
		{"resources, as Kubernetes writes them", "sidecars: [" + proxy + ", resources: {}}]",
			`zz.yaml: spec.sidecars[0].resources: unknown field; known fields here: name, image, command, args, env, secretEnv, cpu, memory, ports, mounts, secretFiles, startup`},
		{"containers, as Kubernetes writes them", "containers: []",
			`zz.yaml: spec.containers: unknown field; the spec runs the app's container; others beside it are spec.sidecars: [{name: db-proxy, image: ...}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := "type: web\n  " // unless the row says its own
			if strings.HasPrefix(tc.spec, "type:") {
				typ = ""
			}
			_, err := Load("zz.yaml", []byte("name: shop\nspec:\n  image: a:1\n  "+typ+tc.spec+"\n"))
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

// TestSidecarDefaults: a sidecar's CPU and memory, and its ports'
// protocol, are filled; what the spec says is kept.
func TestSidecarDefaults(t *testing.T) {
	app, err := Load("zz.yaml", []byte("name: shop\nspec:\n  type: web\n  image: a:1\n  sidecars: [{name: a, image: 'a:1', ports: [{name: p, port: 1}]}, {name: b, image: 'b:1', cpu: '1', memory: 1Gi}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []Sidecar{
		{CPU: DefaultSidecarCPU, Memory: DefaultSidecarMemory},
		{CPU: "1", Memory: "1Gi"},
	} {
		if got := app.Spec.Sidecars[i]; got.CPU != want.CPU || got.Memory != want.Memory {
			t.Errorf("sidecar %d: cpu %s memory %s, want %s %s", i, got.CPU, got.Memory, want.CPU, want.Memory)
		}
	}
	if p := app.Spec.Sidecars[0].Ports[0].Protocol; p != "TCP" {
		t.Errorf("port protocol %q, want TCP", p)
	}
}

// TestSidecarWarnings: what a sidecar's values ask that will not happen,
// said by deploy: the front proxy's upstream on a port no container
// declares (spec.port moved, the args stayed), and $(NAME) of the app's
// env or Secret env, which a sidecar does not get unless it has its own;
// "" wants none.
func TestSidecarWarnings(t *testing.T) {
	auth := func(args string) string {
		return "sidecars: [{name: auth, image: 'p:1', args: [" + args + "], ports: [{name: auth, port: 4180, front: true}]}]"
	}
	for _, tc := range []struct{ name, spec, want string }{
		{"upstream on spec.port", auth("'--upstream=http://127.0.0.1:8080'"), ""},
		{"upstream through ZZ_APP_PORT", auth("'--upstream=http://127.0.0.1:$(ZZ_APP_PORT)'"), ""},
		{"upstream left on the old port", "port: 9090\n  " + auth("'--http-address=0.0.0.0:4180', '--upstream=http://127.0.0.1:8080'"),
			"spec.sidecars[0].args[1]: --upstream=http://127.0.0.1:8080 reaches port 8080, which no container of the pod declares, but the app listens on spec.port 9090; write 127.0.0.1:$(ZZ_APP_PORT), which kubectl zz sets to spec.port"},
		{"localhost", "port: 9090\n  " + auth("'--upstream=http://localhost:8080/'"), "localhost:$(ZZ_APP_PORT)"},
		{"IPv6 loopback", "port: 9090\n  " + auth("'--upstream=http://[::1]:8080'"), "[::1]:$(ZZ_APP_PORT)"},
		{"in env", "port: 9090\n  sidecars: [{name: auth, image: 'p:1', env: {OAUTH2_PROXY_UPSTREAMS: 'http://127.0.0.1:8080'}, ports: [{name: auth, port: 4180, front: true}]}]",
			"spec.sidecars[0].env.OAUTH2_PROXY_UPSTREAMS: http://127.0.0.1:8080 reaches port 8080"},
		{"another port the app declares", "ports: [{name: admin, port: 9000}]\n  " + auth("'--upstream=http://127.0.0.1:9000'"), ""},
		{"a port of another sidecar", "sidecars: [{name: authz, image: 'z:1', ports: [{name: authz, port: 9191}]}, {name: auth, image: 'p:1', args: ['--upstream=http://127.0.0.1:9191'], ports: [{name: auth, port: 4180, front: true}]}]", ""},
		{"not the front sidecar", "port: 9090\n  sidecars: [{name: shipper, image: 'p:1', args: ['--out=http://127.0.0.1:8080']}]", ""},
		{"the app's secretEnv", "secretEnv: {DB_PASSWORD: {secret: db, key: pw}}\n  sidecars: [{name: px, image: 'a:1', env: {PW: '$(DB_PASSWORD)'}}]",
			`spec.sidecars[0].env.PW: $(DB_PASSWORD) names spec.secretEnv.DB_PASSWORD, the app's, which a sidecar does not get: the kubelet passes "$(DB_PASSWORD)" on literally; give the sidecar its own secretEnv.DB_PASSWORD`},
		{"its own secretEnv of the same name", "secretEnv: {DB_PASSWORD: {secret: db, key: pw}}\n  sidecars: [{name: px, image: 'a:1', env: {PW: '$(DB_PASSWORD)'}, secretEnv: {DB_PASSWORD: {secret: db, key: pw}}}]", ""},
		{"its own secretEnv, the app's env of the name", "env: {TOKEN: x}\n  sidecars: [{name: px, image: 'a:1', args: ['--token=$(TOKEN)'], secretEnv: {TOKEN: {secret: t, key: t}}}]", ""},
		{"the app's env in args", "env: {REGION: eu}\n  sidecars: [{name: px, image: 'a:1', args: ['--region=$(REGION)']}]",
			`spec.sidecars[0].args[0]: $(REGION) names spec.env.REGION, the app's, which a sidecar does not get: the kubelet passes "$(REGION)" on literally; give the sidecar its own env.REGION`},
		{"its own env of the same name", "env: {REGION: eu}\n  sidecars: [{name: px, image: 'a:1', args: ['--region=$(REGION)'], env: {REGION: eu}}]", ""},
		{"ZZ_APP_PORT in a worker's sidecar", "sidecars: [{name: px, image: 'a:1', args: ['--to=127.0.0.1:$(ZZ_APP_PORT)']}]",
			"spec.sidecars[0].args[0]: $(ZZ_APP_PORT) stays literal: a worker app has no port for kubectl zz to set it to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := "web"
			if strings.Contains(tc.name, "worker") {
				typ = "worker"
			}
			app, err := Load("zz.yaml", []byte("name: shop\nspec:\n  type: "+typ+"\n  image: reg/shop:1\n  "+tc.spec+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(app.Spec.SidecarWarnings(), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("warnings %q, want %q", got, tc.want)
			}
		})
	}
}
