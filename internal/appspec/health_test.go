package appspec

import "testing"

// TestHealthCommandValid: what spec.healthCommand takes: any type, a shell
// with its own syntax, spec.env's variables (the kubelet expands them),
// and on a worker startupTimeout and healthTimeout, which it otherwise
// refuses; a web app's healthPath is not defaulted beside it.
func TestHealthCommandValid(t *testing.T) {
	for _, tt := range []struct{ name, spec string }{
		{"worker", "type: worker\n  healthCommand: [/app/healthcheck]"},
		{"worker with startupTimeout and healthTimeout", "type: worker\n  healthCommand: [/app/healthcheck]\n  startupTimeout: 2m\n  healthTimeout: 5s"},
		{"web", "type: web\n  healthCommand: [sh, -c, 'wget -qO- http://127.0.0.1:8080/ | grep -q ok']"},
		{"java", "type: java\n  healthCommand: [/app/check]"},
		{"rpc", "type: rpc\n  healthCommand: [grpc_health_probe, '-addr=:8080']"},
		{"a shell by path", "type: worker\n  healthCommand: [/bin/bash, -c, 'test -f /tmp/ok && echo ok']"},
		{"an env variable", "type: worker\n  env: {PGUSER: app}\n  healthCommand: [pg_isready, -U, '$(PGUSER)']"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app, err := Load("zz.yaml", []byte("name: shop\nspec:\n  image: a:1\n  "+tt.spec+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if app.Spec.HealthPath != "" {
				t.Errorf("healthPath %q defaulted beside healthCommand", app.Spec.HealthPath)
			}
		})
	}
}
