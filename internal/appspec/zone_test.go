package appspec

import (
	"strings"
	"testing"
)

// TestZoneSpread: spec.zoneSpread is left out (nothing), preferred or
// required, with any replica count; anything else is refused with the
// mode it is nearest, and a Kubernetes user's topologySpreadConstraints
// is pointed at it.
func TestZoneSpread(t *testing.T) {
	tests := []struct {
		name string
		spec string // lines under spec:, after type and image
		want string // the error; "" for a valid spec
		mode string // spec.zoneSpread after Load, when valid
	}{
		{name: "left out is no constraint", spec: "replicas: 3", mode: ""},
		{name: "preferred", spec: "zoneSpread: preferred", mode: ZoneSpreadPreferred},
		{name: "required", spec: "zoneSpread: required", mode: ZoneSpreadRequired},
		{name: "required with one replica", spec: "replicas: 1\n  zoneSpread: required", mode: ZoneSpreadRequired},
		{name: "required with an hpa", spec: "hpa: {min: 2, max: 6}\n  zoneSpread: required", mode: ZoneSpreadRequired},
		{name: "capitalised", spec: "zoneSpread: Required",
			want: `zz.yaml: spec.zoneSpread: "Required" is not a mode; did you mean "required"? use preferred (spread when the zones allow) or required (a pod that would unbalance the zones waits), or leave it out`},
		{name: "misspelt", spec: "zoneSpread: prefered", want: `spec.zoneSpread: "prefered" is not a mode; did you mean "preferred"?`},
		{name: "far off", spec: "zoneSpread: hard", want: `zz.yaml: spec.zoneSpread: "hard" is not a mode; use preferred (spread when the zones allow) or required`},
		{name: "a bool", spec: "zoneSpread: true", want: "spec.zoneSpread: expected string, got bool"},
		{name: "field misspelt", spec: "zoneSpred: required", want: `spec.zoneSpred: unknown field; did you mean "zoneSpread"?`},
		{name: "Kubernetes' field", spec: "topologySpreadConstraints: []", want: "spec.topologySpreadConstraints: unknown field; spreading over zones is spec.zoneSpread here (preferred or required), over hosts spec.antiAffinity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := "name: shop\nspec:\n  type: web\n  image: a:1\n  " + tt.spec + "\n"
			app, err := Load("zz.yaml", []byte(data))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused:\n%v", err)
				}
				if app.Spec.ZoneSpread != tt.mode {
					t.Errorf("zoneSpread %q, want %q", app.Spec.ZoneSpread, tt.mode)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n%v\nwant it to contain\n%s", err, tt.want)
			}
		})
	}
}
