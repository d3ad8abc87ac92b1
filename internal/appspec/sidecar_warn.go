package appspec

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/zzcloud/zz/internal/contract"
)

// loopback matches an address of the pod's own network in a sidecar's
// args or env (127.0.0.1:8080, localhost:8080, [::1]:8080): the port after
// it is another container's of the pod.
var loopback = regexp.MustCompile(`(?:127\.0\.0\.1|localhost|\[::1\]):([0-9]{1,5})\b`)

// SidecarWarnings are what the sidecars' values ask that will not happen
// as written; said by deploy, which goes on (the values are valid):
//   - the front sidecar reaching the app on a loopback port that no
//     container of the pod declares (spec.port moved, the proxy's args
//     stayed: every pod Ready and every request failing, an audit);
//   - a $(NAME) naming the app's env or secretEnv, which a sidecar does not
//     get, and not its own, so the kubelet passes "$(NAME)" on literally (a
//     proxy whose password was the text $(DB_PASSWORD), an audit);
//   - $(ZZ_APP_PORT) in a worker's sidecar, which has no port to set it to.
func (s *Spec) SidecarWarnings() []string {
	declared := map[int]bool{int(s.Port): s.Port != 0}
	for _, p := range s.Ports {
		declared[int(p.Port)] = true
	}
	for _, sc := range s.Sidecars {
		for _, p := range sc.Ports {
			declared[int(p.Port)] = true
		}
	}
	var out []string
	front, _, _ := s.Front()
	for i, sc := range s.Sidecars {
		for _, v := range sidecarValues(i, sc) {
			if sc.Name == front && s.Port != 0 {
				for _, m := range loopback.FindAllStringSubmatch(v.value, -1) {
					if n, _ := strconv.Atoi(m[1]); !declared[n] {
						out = append(out, fmt.Sprintf("%s: %s reaches port %d, which no container of the pod declares, but the app listens on spec.port %d; write %s, which kubectl zz sets to spec.port",
							v.field, v.value, n, s.Port, m[0][:len(m[0])-len(m[1])]+"$("+contract.EnvAppPort+")"))
					}
				}
			}
			for _, ref := range EnvRefs(v.value) {
				_, own := sc.Env[ref]
				if _, ownSecret := sc.SecretEnv[ref]; own || ownSecret {
					continue
				}
				switch _, env := s.Env[ref]; {
				case ref == contract.EnvAppPort && s.Port == 0:
					out = append(out, fmt.Sprintf("%s: $(%s) stays literal: a %s app has no port for kubectl zz to set it to", v.field, ref, s.Type))
				case env:
					out = append(out, fmt.Sprintf("%s: $(%s) names spec.env.%s, the app's, which a sidecar does not get: the kubelet passes \"$(%s)\" on literally; give the sidecar its own env.%s", v.field, ref, ref, ref, ref))
				case s.SecretEnv[ref].Secret != "":
					out = append(out, fmt.Sprintf("%s: $(%s) names spec.secretEnv.%s, the app's, which a sidecar does not get: the kubelet passes \"$(%s)\" on literally; give the sidecar its own secretEnv.%s", v.field, ref, ref, ref, ref))
				}
			}
		}
	}
	return out
}

// fieldValue is one string of a sidecar with its field.
type fieldValue struct{ field, value string }

// sidecarValues are the strings of sidecar i that the kubelet expands
// $(NAME) in: its command, args and env values.
func sidecarValues(i int, sc Sidecar) []fieldValue {
	field := fmt.Sprintf("spec.sidecars[%d]", i)
	var out []fieldValue
	for j, c := range sc.Command {
		out = append(out, fieldValue{fmt.Sprintf("%s.command[%d]", field, j), c})
	}
	for j, a := range sc.Args {
		out = append(out, fieldValue{fmt.Sprintf("%s.args[%d]", field, j), a})
	}
	for _, k := range sortedKeys(sc.Env) {
		out = append(out, fieldValue{field + ".env." + k, sc.Env[k]})
	}
	return out
}
