package appspec

import (
	"fmt"
	"math"
	"net"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// maxNameLen leaves room for the suffixes of rendered objects ("-config",
// "-data") and revision records ("-rev-12345") within 63 characters.
const maxNameLen = 40

// Validate checks a defaulted App and returns every problem, each naming file,
// field and fix. It does no I/O.
func (a *App) Validate(file string) Errors {
	v := &validator{file: file}
	if a.APIVersion != APIVersion {
		v.add("apiVersion", fmt.Sprintf("%q is not supported", a.APIVersion), "use "+APIVersion)
	}
	if a.Kind != Kind {
		v.add("kind", fmt.Sprintf("%q is not supported", a.Kind), "use "+Kind)
	}
	v.name(a.Name)
	s := &a.Spec
	v.typ(s.Type)
	v.image("spec.image", s.Image, s.Version, "registry.local/shop:1.4.2")
	if s.Image != "" || s.Version != "" { // without an image, its missing tag is no second problem
		v.labelValue("spec.version", s.Version, "set spec.version or give --version 1.4.2, or tag spec.image (shop:1.4.2)")
	}
	if s.Replicas != nil && *s.Replicas < 0 {
		v.add("spec.replicas", fmt.Sprintf("%d is negative", *s.Replicas), "use 0 or more")
	}
	v.cpu("spec.cpu", s.CPU)
	v.bytes("spec.memory", s.Memory, "use e.g. 512Mi or 2Gi", "memory")
	if s.GPUMem != "" {
		v.gpuMem(s.GPUMem)
	}
	v.port(s)
	v.health(s)
	if s.Group != "" {
		v.labelValue("spec.group", s.Group, "use letters, digits, '-', '_' or '.', at most 63")
	}
	if s.Pool != "" {
		v.labelValue("spec.pool", s.Pool, "use a node pool name such as general")
	}
	v.env(s)
	v.deviceEnv(s)
	v.configFiles(s)
	if s.AntiAffinity != AntiAffinityPreferred && s.AntiAffinity != AntiAffinityRequired {
		v.add("spec.antiAffinity", fmt.Sprintf("%q is not a mode", s.AntiAffinity), "use preferred or required")
	}
	v.zoneSpread(s.ZoneSpread)
	v.ingress(s)
	v.service(s)
	v.hpa(s.HPA)
	v.pvc(s)
	v.escapeHatches(s)
	v.sidecars(s)
	return v.errs
}

type validator struct {
	file string
	errs Errors
}

func (v *validator) add(field, msg, fix string) {
	v.errs = append(v.errs, &FieldError{File: v.file, Field: field, Msg: msg, Fix: fix})
}

// NameRule is Validate's rule for an app's name in one sentence, for the
// commands that refuse a name the user typed (kubectl zz status NAME).
var NameRule = fmt.Sprintf("an app name is lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, at most %d characters, not ending in %s (e.g. shop-api)", maxNameLen, contract.CanarySuffix)

// CheckName is Validate's rule for an app's name, said of field in file
// as Validate says it; nil when name keeps it. kubectl zz init --name is
// checked with it before any read, in deploy's words.
func CheckName(file, field, name string) error {
	v := &validator{file: file}
	v.name(name)
	if len(v.errs) == 0 {
		return nil
	}
	e := v.errs[0]
	e.Field = field
	return e
}

func (v *validator) name(name string) {
	switch {
	case name == "":
		v.add("name", "missing", "name the app, e.g. name: shop")
	case len(name) > maxNameLen:
		v.add("name", fmt.Sprintf("%q is %d characters", name, len(name)), fmt.Sprintf("use at most %d", maxNameLen))
	case strings.HasSuffix(name, contract.CanarySuffix):
		v.add("name", fmt.Sprintf("%q ends in -canary", name), "choose another name: kubectl zz deploy --canary names the canary of an app <app>-canary")
	case len(validation.IsDNS1035Label(name)) > 0:
		v.add("name", fmt.Sprintf("%q is not a valid app name", name),
			"use lower-case letters, digits and '-', starting with a letter (e.g. shop-api)")
	}
}

func (v *validator) typ(t Type) {
	if t == "" {
		v.add("spec.type", "missing", "use one of "+typeList())
	} else if !slices.Contains(Types, t) {
		v.add("spec.type", fmt.Sprintf("%q is not an app type", t), "use one of "+typeList())
	}
}

func typeList() string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// image checks the image of field; example is a good one for the fix.
func (v *validator) image(field, image, version, example string) {
	switch {
	case image == "":
		v.add(field, "missing", "set the image to run, e.g. "+example)
	case strings.ContainsAny(image, " \t\n") || strings.HasPrefix(image, ":") || strings.HasSuffix(image, ":"):
		v.add(field, fmt.Sprintf("%q is not an image reference", image), "use repository[:tag], e.g. "+example)
	default:
		v.imageParts(field, image, version, example)
	}
}

// tagFormat is a tag as the kubelet's reference parser reads one.
var tagFormat = regexp.MustCompile(`^` + reference.TagRegexp.String() + `$`)

// imageParts parses image as the kubelet does (what fails here is
// InvalidImageName on every node, after the rollout has begun: an
// app-developer audit), naming the part that is wrong. A bad tag that is
// also the version is said once, by the version's check.
func (v *validator) imageParts(field, image, version, example string) {
	_, err := reference.ParseNormalizedNamed(image)
	if err == nil {
		return
	}
	name, dgst, hasDigest := strings.Cut(image, "@")
	tag := ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	fix := "use repository[:tag][@sha256:digest], e.g. " + example
	var bad []string
	if ref, err := reference.ParseNormalizedNamed(name); err != nil {
		bad = append(bad, fmt.Sprintf("the repository %q is not valid: %v", name, strings.TrimPrefix(err.Error(), "invalid reference format: ")))
		if strings.Contains(err.Error(), "must be lowercase") { // ParseNormalizedNamed's own text, not ErrNameContainsUppercase
			fix += " (the path in lower case)"
		} else {
			fix += " (path components of lower-case letters and digits, separated by '.', '_', '__' or '-', joined by '/')"
		}
	} else if _, tagged := ref.(reference.Tagged); tagged {
		bad = append(bad, "it has two tags")
	}
	badTag := tag != "" && !tagFormat.MatchString(tag)
	if badTag && tag != version {
		bad = append(bad, fmt.Sprintf("the tag %q is not valid (letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-')", tag))
	}
	if hasDigest {
		if err := digest.Digest(dgst).Validate(); err != nil {
			bad = append(bad, fmt.Sprintf("the digest %q is not valid: %v", dgst, err))
			fix = "give the whole digest: @sha256: and its 64 hex digits"
		}
	}
	switch {
	case len(bad) > 0:
		v.add(field, fmt.Sprintf("%q: %s", image, strings.Join(bad, "; ")), fix)
	case !badTag:
		v.add(field, fmt.Sprintf("%q is not an image reference: %v", image, err), fix)
	}
}

func (v *validator) labelValue(field, value, fix string) {
	if value == "" {
		v.add(field, "missing", fix)
		return
	}
	if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
		v.add(field, fmt.Sprintf("%q is not a valid label value", value), fix)
	}
}

func (v *validator) quantity(field, value, fix string) {
	q, err := resource.ParseQuantity(value)
	if err != nil {
		v.add(field, fmt.Sprintf("%q is not a quantity", value), fix)
		return
	}
	if q.Sign() <= 0 {
		v.add(field, fmt.Sprintf("%q is not positive", value), fix)
	}
}

// cpu is a positive quantity; a plain number of a thousand or more is
// cores no node has, where millicores were meant.
func (v *validator) cpu(field, value string) {
	q, err := resource.ParseQuantity(value)
	if err != nil || q.Sign() <= 0 {
		v.quantity(field, value, "use e.g. 250m or 2")
		return
	}
	// A plain number of a hundred or more is cores no pod asks for, where
	// millicores were meant (cpu: "500" for 500m); a pod that truly wants
	// them says so in millicores.
	if n, err := strconv.ParseInt(value, 10, 64); err == nil && n >= 100 {
		v.add(field, fmt.Sprintf("%s is %d cores", value, n),
			fmt.Sprintf("write %dm for %s core(s) (millicores), or %dm if %d cores are meant", n, strconv.FormatFloat(float64(n)/1000, 'f', -1, 64), n*1000, n))
	}
}

// bytes is a positive quantity of at least 1Mi and at most 8Ei (the most
// bytes an int64 holds: Value() of more wraps to nonsense): a plain number
// is bytes, and "512" meant 512Mi (the pod would never start: runtimes
// refuse a memory limit of a few bytes); one with a suffix under 1Mi
// (512Ki, 0.5Mi) is told the least, not to add the unit it has.
func (v *validator) bytes(field, value, fix, what string) {
	q, err := resource.ParseQuantity(value)
	if err != nil || q.Sign() <= 0 {
		v.quantity(field, value, fix)
		return
	}
	if q.CmpInt64(math.MaxInt64) > 0 {
		v.add(field, fmt.Sprintf("%s is more than 8Ei, the largest %s there is", value, what), fix)
		return
	}
	if b := q.Value(); b < 1<<20 {
		if n, err := strconv.ParseInt(value, 10, 64); err == nil && n > 0 {
			v.add(field, fmt.Sprintf("%s is %d bytes", value, b), fmt.Sprintf("write %sMi for %s mebibytes", value, value))
			return
		}
		v.add(field, fmt.Sprintf("%s is under 1Mi (%d bytes), the least %s", value, b, what), "write at least 1Mi, e.g. 512Mi or 2Gi")
	}
}

// gpuMem is a positive quantity of at least 1Mi: a plain number is bytes,
// and 4096 is what a HAMi user writes for 4096 MiB (nvidia.com/gpumem).
func (v *validator) gpuMem(value string) {
	q, err := resource.ParseQuantity(value)
	if err != nil || q.Sign() <= 0 {
		v.quantity("spec.gpuMem", value, "use e.g. 4Gi or 3000Mi (memory per card)")
		return
	}
	if b := q.Value(); b < 1<<20 {
		v.add("spec.gpuMem", fmt.Sprintf("%s is %d bytes", value, b), "write "+gpushare.BytesFix(q, "MiB, as HAMi's gpumem"))
	}
}

func (v *validator) port(s *Spec) {
	if s.Type == TypeWorker {
		if s.Port != 0 {
			v.add("spec.port", "a worker serves no port", "remove spec.port or use type web or rpc")
		}
		return
	}
	if s.Port < 1 || s.Port > 65535 {
		v.add("spec.port", fmt.Sprintf("%d is out of range", s.Port), "use a port from 1 to 65535, e.g. 8080")
	}
}

func (v *validator) health(s *Spec) {
	if s.HealthCommand != nil {
		v.healthCommand(s)
		return
	}
	switch {
	case s.HealthCheck == "":
	case s.Type != TypeRPC:
		v.add("spec.healthCheck", fmt.Sprintf("a %s app has no choice of health check", s.Type), "remove spec.healthCheck (web and java apps are checked by HTTP on spec.healthPath), or use type rpc")
	case s.HealthCheck != HealthCheckTCP && s.HealthCheck != HealthCheckGRPC:
		v.add("spec.healthCheck", fmt.Sprintf("%q is not a health check", s.HealthCheck), "use tcp (a connect to the port) or grpc (the gRPC health protocol)")
	}
	if s.Type != TypeWeb && s.Type != TypeJava {
		if s.HealthPath != "" {
			v.add("spec.healthPath", fmt.Sprintf("a %s app has no HTTP health check", s.Type), "remove spec.healthPath or use type web or java")
		}
		return
	}
	if !strings.HasPrefix(s.HealthPath, "/") || strings.ContainsAny(s.HealthPath, " \t\n") {
		v.add("spec.healthPath", fmt.Sprintf("%q is not a URL path", s.HealthPath), "use a path such as /health")
	}
}

func (v *validator) env(s *Spec) {
	// With envFrom, a reference may be to one of its keys, which the
	// kubelet sets first ("$(JAVA_OPTS) -Xmx1g" adds to a shared
	// ConfigMap's): unknown here, so not judged.
	v.envMap("spec.env", s.Env, len(s.EnvFrom) == 0)
}

// envMap checks the env of field: its names, and with refs the cycles of
// $(NAME) references the kubelet leaves unexpanded.
func (v *validator) envMap(field string, env map[string]string, refs bool) {
	inCycle := map[string]bool{}
	for _, name := range sortedKeys(env) {
		if len(validation.IsEnvVarName(name)) > 0 {
			v.add(field+"."+name, "is not a valid environment variable name", "use letters, digits and '_', e.g. LOG_LEVEL")
		}
		if !refs || inCycle[name] {
			continue
		}
		if cycle := refCycle(env, name); cycle != nil {
			for _, c := range cycle {
				inCycle[strings.TrimSuffix(strings.TrimPrefix(c, "$("), ")")] = true
			}
			v.add(field+"."+name, "refers to itself through "+strings.Join(cycle, " -> ")+", which the kubelet leaves unexpanded",
				"break the cycle, or write $$( to mean a literal $(")
		}
	}
}

// EnvRefs are the variables value refers to as the kubelet expands them:
// $(NAME), with $$ a literal $.
func EnvRefs(value string) []string {
	var out []string
	for i := 0; i < len(value)-1; i++ {
		if value[i] != '$' {
			continue
		}
		switch value[i+1] {
		case '$':
			i++
		case '(':
			if j := strings.IndexByte(value[i+2:], ')'); j >= 0 {
				out = append(out, value[i+2:i+2+j])
				i += 2 + j
			}
		}
	}
	return out
}

// refCycle is the chain of references from name back to itself through
// env's values ($(A) in B and $(B) in A), nil when there is none.
func refCycle(env map[string]string, name string) []string {
	seen := map[string]bool{}
	var walk func(at string, path []string) []string
	walk = func(at string, path []string) []string {
		for _, ref := range EnvRefs(env[at]) {
			if _, ok := env[ref]; !ok {
				continue
			}
			if ref == name {
				return append(path, "$("+ref+")")
			}
			if !seen[ref] {
				seen[ref] = true
				if c := walk(ref, append(path, "$("+ref+")")); c != nil {
					return c
				}
			}
		}
		return nil
	}
	return walk(name, []string{name})
}

func (v *validator) configFiles(s *Spec) {
	for _, name := range sortedKeys(s.ConfigFiles) {
		if len(validation.IsConfigMapKey(name)) > 0 {
			v.add("spec.configFiles."+name, "is not a valid file name", "use letters, digits, '-', '_' or '.', e.g. app.properties")
		}
	}
	if s.ConfigDir != "" && !path.IsAbs(s.ConfigDir) {
		v.add("spec.configDir", fmt.Sprintf("%q is not an absolute path", s.ConfigDir), "use e.g. "+DefaultConfigDir)
	}
}

func (v *validator) ingress(s *Spec) {
	in := s.Ingress
	if in == nil {
		return
	}
	if s.Type == TypeWorker || s.Type == TypeRPC {
		v.add("spec.ingress", fmt.Sprintf("a %s app is not served over HTTP", s.Type), "remove spec.ingress or use type web or java")
	}
	if len(validation.IsDNS1123Subdomain(in.Host)) > 0 && len(validation.IsWildcardDNS1123Subdomain(in.Host)) > 0 {
		v.add("spec.ingress.host", fmt.Sprintf("%q is not a host name", in.Host), "use e.g. shop.example.com, or *.example.com for every subdomain")
	}
	if in.TLSSecret != "" {
		v.objectName("spec.ingress.tlsSecret", in.TLSSecret)
	}
	for _, k := range sortedKeys(in.Annotations) {
		if len(validation.IsQualifiedName(k)) > 0 {
			v.add("spec.ingress.annotations."+k, "is not a valid annotation key", "use e.g. cert-manager.io/cluster-issuer")
		}
	}
	if !strings.HasPrefix(in.Path, "/") {
		v.add("spec.ingress.path", fmt.Sprintf("%q is not a URL path", in.Path), "use e.g. /")
	}
}

func (v *validator) service(s *Spec) {
	sv := s.Service
	if sv == nil {
		return
	}
	if s.Type == TypeWorker {
		v.add("spec.service", "a worker app has no Service", "remove spec.service or use type web, java or rpc")
		return
	}
	if sv.Port != 0 {
		switch {
		case sv.Port < 1 || sv.Port > 65535:
			v.add("spec.service.port", fmt.Sprintf("%d is out of range", sv.Port), "use a port from 1 to 65535, e.g. 80")
		case slices.ContainsFunc(s.Ports, func(p Port) bool { return p.Port == sv.Port && p.Protocol != "UDP" }):
			v.add("spec.service.port", fmt.Sprintf("%d is an extra port's (spec.ports) on the Service too", sv.Port), "give the Service's port another number, e.g. 80")
		}
	}
	external := sv.Type == ServiceNodePort || sv.Type == ServiceLoadBalancer
	switch {
	case sv.Type == "" || sv.Type == ServiceClusterIP || external:
	case strings.EqualFold(sv.Type, ServiceLoadBalancer), strings.EqualFold(sv.Type, ServiceNodePort), strings.EqualFold(sv.Type, ServiceClusterIP):
		v.add("spec.service.type", fmt.Sprintf("%q is not a Service type (the case matters)", sv.Type), "use ClusterIP, NodePort or LoadBalancer")
	default:
		v.add("spec.service.type", fmt.Sprintf("%q is not a Service type", sv.Type), "use ClusterIP (inside the cluster), NodePort or LoadBalancer (ExternalName is not an app's)")
	}
	for _, k := range sortedKeys(sv.Annotations) {
		if len(validation.IsQualifiedName(k)) > 0 {
			v.add("spec.service.annotations."+k, "is not a valid annotation key", "use e.g. service.beta.kubernetes.io/aws-load-balancer-type")
		}
	}
	switch sv.ExternalTrafficPolicy {
	case "":
	case TrafficCluster, TrafficLocal:
		if !external {
			v.add("spec.service.externalTrafficPolicy", "applies to traffic from outside the cluster", "set service.type to NodePort or LoadBalancer, or remove it")
		}
	default:
		v.add("spec.service.externalTrafficPolicy", fmt.Sprintf("%q is not a policy", sv.ExternalTrafficPolicy), "use Cluster or Local (keeps the client's address)")
	}
	for i, r := range sv.LoadBalancerSourceRanges {
		// As strictly as the apiserver may judge it (no host bits, no
		// leading zeros, canonical): ParseCIDR took 203.0.113.7/24, which
		// the apiserver refused mid-deploy (a review).
		field := fmt.Sprintf("spec.service.loadBalancerSourceRanges[%d]", i)
		switch _, ipnet, err := net.ParseCIDR(r); {
		case err != nil:
			v.add(field, fmt.Sprintf("%q is not a CIDR", r), "use e.g. 203.0.113.0/24")
		case len(validation.IsValidCIDR(nil, r)) > 0:
			v.add(field, fmt.Sprintf("%q is not a CIDR as Kubernetes writes it", r), fmt.Sprintf("write %s (the network, with no host bits)", ipnet))
		}
	}
	if len(sv.LoadBalancerSourceRanges) > 0 && sv.Type != ServiceLoadBalancer {
		v.add("spec.service.loadBalancerSourceRanges", "applies to a load balancer only", "set service.type to LoadBalancer, or remove it")
	}
}

func (v *validator) hpa(h *HPA) {
	if h == nil {
		return
	}
	if h.Min < 1 {
		v.add("spec.hpa.min", fmt.Sprintf("%d is below 1", h.Min), "use 1 or more")
	}
	if h.Max < h.Min {
		v.add("spec.hpa.max", fmt.Sprintf("%d is below min %d", h.Max, h.Min), "use a max of at least min")
	}
	if h.CPUPercent < 1 || h.CPUPercent > 100 {
		v.add("spec.hpa.cpuPercent", fmt.Sprintf("%d is out of range", h.CPUPercent), "use 1 to 100, e.g. 80")
	}
}

func (v *validator) pvc(s *Spec) {
	p := s.PVC
	if p == nil {
		return
	}
	switch {
	case p.AccessMode != AccessModeOnce && p.AccessMode != AccessModeMany:
		v.add("spec.pvc.accessMode", fmt.Sprintf("%q is not an access mode", p.AccessMode), "use ReadWriteOnce or ReadWriteMany")
	case p.AccessMode == AccessModeOnce && maxPods(s) > 1:
		v.add("spec.pvc.accessMode", fmt.Sprintf("a ReadWriteOnce volume serves one node, but up to %d pods share it", maxPods(s)),
			"use replicas: 1, or accessMode: ReadWriteMany with a storage class that supports it")
	}
	v.bytes("spec.pvc.size", p.Size, "use e.g. 10Gi", "volume size")
	switch {
	case !path.IsAbs(p.MountPath):
		v.add("spec.pvc.mountPath", fmt.Sprintf("%q is not an absolute path", p.MountPath), "use e.g. /data")
	case len(s.ConfigFiles) > 0 && under(p.MountPath, s.ConfigDir):
		// Two mounts at one path are refused by the apiserver, and the
		// volume cannot be mounted inside the read-only config files (the
		// other way, config files under the volume, works).
		v.add("spec.pvc.mountPath", fmt.Sprintf("%s is spec.configDir %s or inside it, which is read-only", p.MountPath, s.ConfigDir),
			"mount the volume elsewhere, e.g. /data, or put configDir inside the volume, e.g. /data/conf")
	}
	if p.StorageClass != "" && len(validation.IsDNS1123Subdomain(p.StorageClass)) > 0 {
		v.add("spec.pvc.storageClass", fmt.Sprintf("%q is not a storage class name", p.StorageClass), "use the name kubectl get storageclass shows")
	}
}

// under says whether directory x is y or inside it.
func under(x, y string) bool {
	x, y = path.Clean(x), path.Clean(y)
	return x == y || y == "/" || strings.HasPrefix(x, y+"/")
}

// maxPods is the most pods the app runs at once, surge aside.
func maxPods(s *Spec) int32 {
	if s.HPA != nil {
		return s.HPA.Max
	}
	if s.Replicas != nil {
		return *s.Replicas
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
