package appspec

import (
	"reflect"
	"testing"
)

// TestCloneSharesNothing fails when a field that refers to memory (map,
// slice, pointer) is added to Spec and Clone does not copy it.
func TestCloneSharesNothing(t *testing.T) {
	r, n := int32(3), int32(2)
	uid := int64(10001)
	a := &App{APIVersion: APIVersion, Kind: Kind, Name: "shop", Spec: Spec{
		Type: TypeWeb, Image: "registry.local/shop:1.0", Replicas: &r,
		Env: map[string]string{"A": "1"}, ConfigFiles: map[string]string{"a": "b"},
		Labels: map[string]string{"team": "x"}, Annotations: map[string]string{"a": "b"},
		SecretEnv: map[string]SecretKey{"P": {Secret: "s", Key: "k"}},
		Command:   []string{"run"}, Args: []string{"-v"}, InitCommand: []string{"migrate"}, HealthCommand: []string{"check"}, EnvFrom: []EnvFrom{{Secret: "s"}},
		ImagePullSecrets: []string{"login"}, SecretFiles: []SecretFile{{Secret: "tls", MountPath: "/etc/tls", Keys: []string{"tls.crt"}}}, Scratch: []Scratch{{MountPath: "/tmp"}},
		Sidecars: []Sidecar{{Name: "proxy", Image: "p:1", Command: []string{"p"}, Args: []string{"-v"}, Env: map[string]string{"A": "1"}, SecretEnv: map[string]SecretKey{"S": {Secret: "s", Key: "k"}}, Ports: []Port{{Name: "p", Port: 5432}}, Mounts: []string{"/tmp"}, Startup: &SidecarStartup{Port: "p"},
			SecretFiles: []SecretFile{{Secret: "sa", MountPath: "/etc/sa", Keys: []string{"key.json"}}}}}, Ports: []Port{{Name: "m", Port: 7070}},
		GPUs: &n, GPUModels: []string{"A100"}, AvoidGPUModels: []string{"T4"}, PreStop: []string{"sleep", "1"},
		Ingress: &Ingress{Host: "shop.example.com"}, Service: &Service{Type: "LoadBalancer", Annotations: map[string]string{"a": "b"}, LoadBalancerSourceRanges: []string{"10.0.0.0/8"}}, HPA: &HPA{Min: 1, Max: 2}, PVC: &PVC{Size: "1Gi", MountPath: "/d"},
		SecurityContext: &SecurityContext{RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid},
	}}
	c := a.Clone()
	if !reflect.DeepEqual(a, c) {
		t.Fatalf("clone differs:\n%+v\n%+v", a, c)
	}
	av, cv := reflect.ValueOf(&a.Spec).Elem(), reflect.ValueOf(&c.Spec).Elem()
	for i := 0; i < av.NumField(); i++ {
		name := av.Type().Field(i).Name
		switch av.Field(i).Kind() {
		case reflect.Map, reflect.Slice, reflect.Pointer:
			if av.Field(i).IsNil() {
				t.Errorf("the test leaves Spec.%s empty: fill it so that its copy is checked", name)
				continue
			}
			if av.Field(i).Pointer() == cv.Field(i).Pointer() {
				t.Errorf("Clone shares Spec.%s with the original", name)
			}
		}
	}
	if sc := c.Spec.SecurityContext; sc.RunAsUser == a.Spec.SecurityContext.RunAsUser || sc.RunAsGroup == a.Spec.SecurityContext.RunAsGroup || sc.FSGroup == a.Spec.SecurityContext.FSGroup {
		t.Error("Clone shares the security context's ids with the original")
	}
	if &c.Spec.SecretFiles[0].Keys[0] == &a.Spec.SecretFiles[0].Keys[0] {
		t.Error("Clone shares a secret file's keys with the original")
	}
	if c.Spec.Service.Annotations["a"] = "c"; a.Spec.Service.Annotations["a"] != "b" || &c.Spec.Service.LoadBalancerSourceRanges[0] == &a.Spec.Service.LoadBalancerSourceRanges[0] {
		t.Error("Clone shares the Service's annotations or source ranges with the original")
	}
	if sc, ac := &c.Spec.Sidecars[0], &a.Spec.Sidecars[0]; &sc.Command[0] == &ac.Command[0] || &sc.Args[0] == &ac.Args[0] || &sc.Ports[0] == &ac.Ports[0] || &sc.Mounts[0] == &ac.Mounts[0] {
		t.Error("Clone shares a sidecar's command, args, ports or mounts with the original")
	}
	if sc, ac := &c.Spec.Sidecars[0], &a.Spec.Sidecars[0]; &sc.SecretFiles[0] == &ac.SecretFiles[0] || &sc.SecretFiles[0].Keys[0] == &ac.SecretFiles[0].Keys[0] {
		t.Error("Clone shares a sidecar's secret files or their keys with the original")
	}
	if c.Spec.Sidecars[0].Startup == a.Spec.Sidecars[0].Startup {
		t.Error("Clone shares a sidecar's startup with the original")
	}
	if c.Spec.Sidecars[0].Env["A"] = "2"; a.Spec.Sidecars[0].Env["A"] != "1" {
		t.Error("Clone shares a sidecar's env with the original")
	}
	if c.Spec.Sidecars[0].SecretEnv["S"] = (SecretKey{Secret: "t", Key: "k"}); a.Spec.Sidecars[0].SecretEnv["S"].Secret != "s" {
		t.Error("Clone shares a sidecar's Secret env with the original")
	}
	if (*App)(nil).Clone() != nil {
		t.Error("Clone of nil is not nil")
	}
}
