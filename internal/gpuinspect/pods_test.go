package gpuinspect

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zzcloud/zz/internal/contract"
)

// TestPodsAndApps: the --pods view of the fixture: each pod's request as
// the ledger charges it against its published use, per card, and per app.
func TestPodsAndApps(t *testing.T) {
	snap, err := Collect(t.Context(), fixture(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	everything := labels.Everything()
	tests := []struct {
		name      string
		namespace string
		selector  string
		showNS    bool
		pods      []string // the pod table, one line per pod and card
		apps      []string
	}{
		{
			name: "namespace", namespace: "team", selector: "",
			pods: []string{
				"POD APP NODE CARD REQUESTED USED OVER",
				"a <none> gpu-2 0 1Gi <unknown> false",
				"b <none> gpu-2 0 1Gi 12Mi false",
				"bad-use <none> gpu-1 1 1Gi <unknown> false",
				// The ledger refused its assignment: it holds nothing, and uses 700.
				"forged <none> gpu-1 1 0Mi 700Mi true",
				"infer vision gpu-1 0 3000Mi 1000Mi false",
				"infer vision gpu-1 1 3000Mi 500Mi false",
				"train vision gpu-1 0 8Gi 9000Mi true",
			},
			apps: []string{
				"APP PODS REQUESTED USED OVER",
				"<none> 4 3Gi 712Mi (2 pods unknown) 1",
				"vision 2 14192Mi 10500Mi 1",
			},
		},
		{
			name: "every namespace, one app", namespace: metav1.NamespaceAll, selector: "zz.io/app=vision", showNS: true,
			pods: []string{
				"NAMESPACE POD APP NODE CARD REQUESTED USED OVER",
				"team infer vision gpu-1 0 3000Mi 1000Mi false",
				"team infer vision gpu-1 1 3000Mi 500Mi false",
				"team train vision gpu-1 0 8Gi 9000Mi true",
			},
			apps: []string{"NAMESPACE APP PODS REQUESTED USED OVER", "team vision 2 14192Mi 10500Mi 1"},
		},
		{name: "another namespace", namespace: "other", pods: []string{"POD APP NODE CARD REQUESTED USED OVER"}, apps: []string{"APP PODS REQUESTED USED OVER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel := everything
			if tt.selector != "" {
				if sel, err = labels.Parse(tt.selector); err != nil {
					t.Fatal(err)
				}
			}
			pods := FilterPods(snap.Pods, tt.namespace, sel)
			if got := render(PodTable(pods, tt.showNS, false)); got != strings.Join(tt.pods, "\n") {
				t.Errorf("pods:\n%s\nwant\n%s", got, strings.Join(tt.pods, "\n"))
			}
			if got := render(AppTable(Apps(pods), tt.showNS)); got != strings.Join(tt.apps, "\n") {
				t.Errorf("apps:\n%s\nwant\n%s", got, strings.Join(tt.apps, "\n"))
			}
		})
	}
}

// TestPodCardsUnknownUUID: a published use on a card the node's inventory
// does not list (it fell off the bus) shows by UUID, not as card 0.
func TestPodCardsUnknownUUID(t *testing.T) {
	snap, err := Collect(t.Context(), fixture(t), []string{"gpu-2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range snap.Pods {
		if p.Node != "gpu-2" {
			t.Fatalf("pod %s/%s of node %s listed for gpu-2 alone", p.Namespace, p.Name, p.Node)
		}
	}
	rows, _ := podRows(snap.Nodes, nil)
	if len(rows) != 0 {
		t.Fatalf("rows without pods: %+v", rows)
	}
	p := PodGPU{Name: "x", Node: "gpu-2", Cards: []PodCard{{Index: -1, UUID: "GPU-GONE", UsedMiB: new(int64(5)), Over: true}}}
	if got := render(PodTable([]PodGPU{p}, false, true)); !strings.Contains(got, "x <none> gpu-2 GPU-GONE 0Mi 5Mi true GPU-GONE") {
		t.Fatalf("table:\n%s", got)
	}
}

// TestUseOfAnotherNodesCard: the device plugin of gpu-2 publishes, on its
// pod, use of gpu-1's card GPU-0 (audit 14 made another tenant's card look
// full this way). It is not counted on GPU-0 nor shown against the pod,
// and a warning names the pod, the card and its node; use of its own card
// still counts.
func TestUseOfAnotherNodesCard(t *testing.T) {
	c := fixture(t)
	p, err := c.CoreV1().Pods("team").Get(t.Context(), "b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Annotations[contract.AnnotationGPUMemUsed] = "GPU-0=40960,GPU-F=100"
	if _, err := c.CoreV1().Pods("team").Update(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	snap, err := Collect(t.Context(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "pod team/b: its use of card GPU-0 is not counted: the card is not on its node gpu-2"
	if !strings.Contains(strings.Join(snap.Warnings, "\n"), want) {
		t.Errorf("warnings %q lack %q", snap.Warnings, want)
	}
	got := render(Table(snap, true))
	if !containsAll(got, []string{"GPU-0 true 1 10000Mi team/infer:3000Mi/1000Mi,team/train:8Gi/9000Mi", "GPU-F true <unknown> 100Mi team/a:1Gi/<unknown>,team/b:1Gi/100Mi"}) {
		t.Errorf("table:\n%s", got)
	}
	for _, row := range snap.Pods {
		for _, card := range row.Cards {
			if row.Name == "b" && card.UUID == "GPU-0" {
				t.Errorf("pod b shows use of gpu-1's card: %+v", card)
			}
		}
	}
}
