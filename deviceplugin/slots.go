package deviceplugin

import (
	"fmt"
	"strconv"
	"strings"
)

// slotSep joins a card UUID and a slot number in a device ID.
const slotSep = "::"

// SlotID names slot n of a card, as advertised to the kubelet.
func SlotID(uuid string, n int) string { return uuid + slotSep + strconv.Itoa(n) }

// CardOf returns the card UUID of a slot ID.
func CardOf(slotID string) (string, error) {
	uuid, _, ok := strings.Cut(slotID, slotSep)
	if !ok || uuid == "" {
		return "", fmt.Errorf("device ID %q is not a zz slot (<card uuid>%s<n>)", slotID, slotSep)
	}
	return uuid, nil
}
