package cli

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zzcloud/zz/internal/contract"
)

// TestStatusZoneGapNote: an app whose required zone spread sits in one
// zone while another could take its pods again is said under the table and
// in -o json (zoneGap); list, the short form, says nothing of it.
func TestStatusZoneGapNote(t *testing.T) {
	node := func(name, zone string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-a", Labels: map[string]string{contract.LabelApp: "shop", "pod-template-hash": "5f"}},
			Spec: corev1.PodSpec{NodeName: "b1", TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	}
	a := fakeClient(node("a1", "zone-a"), node("b1", "zone-b"), pod("shop-1"), pod("shop-2"), fakeDeployment("ns-a", "shop", "shop", "2.0", 2, 2))
	zz := withFakeClusters(t, a, fakeClient())
	const note = "spec.zoneSpread: required, but its 2 ready pods are all in zone zone-b (zone-a has schedulable nodes again): kubectl zz restart shop spreads them where those nodes have room"
	out, _, err := zz("status", "shop")
	if err != nil || !strings.Contains(out, "\n\n"+note+"\n") {
		t.Errorf("status shop: %v\n%s", err, out)
	}
	if out, _, err := zz("list"); err != nil || strings.Contains(out, "zoneSpread") {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, _, err = zz("status", "shop", "-o", "json")
	var list struct {
		Items []struct {
			ZoneGap *struct {
				Spread           string
				ReadyPods        int
				Zones, FreeZones []string
			}
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].ZoneGap == nil ||
		list.Items[0].ZoneGap.Spread != "required" || strings.Join(list.Items[0].ZoneGap.FreeZones, ",") != "zone-a" {
		t.Errorf("status shop -o json: %v\n%s", err, out)
	}
}
