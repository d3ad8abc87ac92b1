package gpushare

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zzcloud/zz/internal/contract"
)

// CordonReason is the reason a cordoned card shows (it counts as unhealthy
// for new pods).
const CordonReason = "cordoned (" + contract.AnnotationNodeGPUCordon + ")"

// ParseCordon reads a node's contract.AnnotationNodeGPUCordon value: card
// UUIDs, comma-separated, at most as many as a node may have cards ("":
// none).
func ParseCordon(value string) (string, error) {
	if strings.TrimSpace(value) == "" {
		return "", nil
	}
	list, err := parseUUIDList(value, contract.MaxInventoryCards)
	if err != nil {
		return "", fmt.Errorf("annotation %s: %w", contract.AnnotationNodeGPUCordon, err)
	}
	return list, nil
}

// cordon marks the cards of inv that list names unhealthy for new pods,
// keeping any reason they were down already.
func cordon(cards []Card, list string) {
	if list == "" {
		return
	}
	for i := range cards {
		c := &cards[i]
		if !ListsUUID(list, c.UUID) {
			continue
		}
		if c.Healthy || c.Reason == "" {
			c.Reason = CordonReason
		} else {
			c.Reason = CordonReason + "; " + c.Reason
		}
		c.Healthy = false
	}
}

// EditCordon adds (cordon) or removes uuids from a node's cordon list
// current, and returns the new list ("" when none is left) with the UUIDs
// it changed: a card cordoned or uncordoned already is not changed again.
// UUIDs compare in any case; the node's own spelling is what uuids give.
func EditCordon(current string, uuids []string, on bool) (next string, changed []string, err error) {
	list, err := ParseCordon(current)
	if err != nil {
		return "", nil, err
	}
	var kept []string
	if list != "" {
		kept = strings.Split(list, ",")
	}
	for _, u := range uuids {
		i := slices.IndexFunc(kept, func(k string) bool { return strings.EqualFold(k, u) })
		switch {
		case on && i < 0:
			kept = append(kept, u)
			changed = append(changed, u)
		case !on && i >= 0:
			kept = slices.Delete(kept, i, i+1)
			changed = append(changed, u)
		}
	}
	if len(kept) > contract.MaxInventoryCards {
		return "", nil, fmt.Errorf("a node has at most %d cards; %d would be cordoned", contract.MaxInventoryCards, len(kept))
	}
	return strings.Join(kept, ","), changed, nil
}
