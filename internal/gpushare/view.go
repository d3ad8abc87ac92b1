package gpushare

import (
	"errors"
	"sort"

	"github.com/zzcloud/zz/internal/contract"
)

// PodUse is one pod's memory on one card.
type PodUse struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	MemMiB    int64  `json:"memMiB"`
}

// CardView is a card with the pods on it.
type CardView struct {
	Card
	// FreeMiB is what one more pod could have (kubectl zz gpu's FREE).
	FreeMiB int64    `json:"freeMiB"`
	Pods    []PodUse `json:"pods"`
}

// NodeView is one node's cards, for kubectl zz gpu and metrics.
type NodeView struct {
	Name  string     `json:"name"`
	Error string     `json:"error,omitempty"`
	Cards []CardView `json:"cards"`
}

// View returns every GPU node (or node holding GPU pods), sorted by name.
func (l *Ledger) View() []NodeView {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]NodeView, 0, len(l.nodes))
	for name, n := range l.nodes {
		if len(n.cards) == 0 && len(n.pods) == 0 && errors.Is(n.err, contract.ErrNoInventory) {
			continue
		}
		v := NodeView{Name: name}
		if n.err != nil && !errors.Is(n.err, contract.ErrNoInventory) {
			v.Error = n.err.Error()
		}
		for _, c := range n.cards {
			v.Cards = append(v.Cards, CardView{Card: c, FreeMiB: c.FreeMiB()})
		}
		for uid := range n.pods {
			h := l.pods[uid]
			for _, uuid := range h.UUIDs {
				if p, ok := n.pos[uuid]; ok {
					v.Cards[p].Pods = append(v.Cards[p].Pods, PodUse{Namespace: h.Pod.Namespace, Name: h.Pod.Name, MemMiB: h.MemMiB})
				}
			}
		}
		for i := range v.Cards {
			pods := v.Cards[i].Pods
			sort.Slice(pods, func(a, b int) bool {
				return pods[a].Namespace+"/"+pods[a].Name < pods[b].Namespace+"/"+pods[b].Name
			})
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
