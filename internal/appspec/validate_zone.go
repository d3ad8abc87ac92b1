package appspec

import (
	"fmt"
	"strings"

	"github.com/zzcloud/zz/internal/spelling"
)

// zoneSpread checks spec.zoneSpread: empty (no constraint) or a mode. A
// near miss ("Required", "prefered") is named, as unknown fields are.
func (v *validator) zoneSpread(mode string) {
	if mode == "" || mode == ZoneSpreadPreferred || mode == ZoneSpreadRequired {
		return
	}
	fix := "use preferred (spread when the zones allow) or required (a pod that would unbalance the zones waits), or leave it out"
	if best := spelling.Nearest(strings.ToLower(mode), ZoneSpreads, 4); best != "" {
		fix = fmt.Sprintf("did you mean %q? ", best) + fix
	}
	v.add("spec.zoneSpread", fmt.Sprintf("%q is not a mode", mode), fix)
}
