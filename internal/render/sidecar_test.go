package render

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/zzcloud/zz/internal/appspec"
)

// TestSidecarSecretEnv: a sidecar's secretEnv is env from its Secret's key
// in that sidecar alone, after ZZ_APP_PORT and before what refers to it,
// as the app's is rendered; the app's secretEnv stays in the app's
// container and the sidecar's out of it.
func TestSidecarSecretEnv(t *testing.T) {
	for _, tt := range []struct {
		name, typ, sidecarWant string
	}{
		{name: "web", typ: "web", sidecarWant: "ZZ_APP_PORT=8080 A=a PW=px-db/pw DSN=postgres://px:$(PW)@db"},
		{name: "worker, no port", typ: "worker", sidecarWant: "A=a PW=px-db/pw DSN=postgres://px:$(PW)@db"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app, err := appspec.Load("zz.yaml", []byte("name: shop\nspec:\n  type: "+tt.typ+"\n  image: reg/shop:1\n"+
				"  secretEnv: {APP_PW: {secret: db, key: pw}}\n"+
				"  sidecars: [{name: px, image: 'p:1', env: {DSN: 'postgres://px:$(PW)@db', A: a}, secretEnv: {PW: {secret: px-db, key: pw}}}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			pod := deployment(t, Render(app, Options{Namespace: "ns"})).Spec.Template.Spec
			if got := envString(pod.InitContainers[0].Env); got != tt.sidecarWant {
				t.Errorf("sidecar env %s, want %s", got, tt.sidecarWant)
			}
			if got, want := envString(pod.Containers[0].Env), "APP_PW=db/pw"; got != want {
				t.Errorf("app env %s, want %s (the sidecar's Secret env is its own)", got, want)
			}
		})
	}
}

// envString is env as NAME=value, NAME=secret/key for a Secret's key.
func envString(env []corev1.EnvVar) string {
	var out []string
	for _, e := range env {
		if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil {
			out = append(out, e.Name+"="+r.SecretKeyRef.Name+"/"+r.SecretKeyRef.Key)
			continue
		}
		out = append(out, e.Name+"="+e.Value)
	}
	return strings.Join(out, " ")
}
