package gpuinspect

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// PodGPU is one GPU pod: per card, what the ledger charges it (its
// zz.io/gpu-mem, when the extender's assignment holds) and what its
// processes use, as the device plugin of its node published it.
type PodGPU struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// App is the pod's zz.io/app label ("" when kubectl zz did not deploy it).
	App   string    `json:"app,omitempty"`
	Node  string    `json:"node"`
	Cards []PodCard `json:"cards"`

	labels map[string]string
}

// PodCard is a pod's memory on one card.
type PodCard struct {
	// Index is the card's index on the node; -1 when the node's inventory
	// does not list the UUID.
	Index        int    `json:"index"`
	UUID         string `json:"uuid"`
	RequestedMiB int64  `json:"requestedMiB"`
	// UsedMiB is nil when no device plugin published the pod's use.
	UsedMiB *int64 `json:"usedMiB,omitempty"`
	// Over is true when the pod uses more than it requested on the card.
	Over bool `json:"over"`
}

// Over is true when the pod uses more than it requested on any card.
func (p *PodGPU) Over() bool {
	return slices.ContainsFunc(p.Cards, func(c PodCard) bool { return c.Over })
}

// podRows joins the ledger's charges (from views) with the pods' published
// use. Pods of other nodes and finished pods are left out; an unreadable
// use annotation is a warning, and so is use published of a card that is
// not on the pod's own node, which is not counted: the device plugin of a
// node writes its pods' use, and root on one node made another node's
// card look full in kubectl zz gpu -o wide with it (audit 14). Use of a
// card of its node the pod was not given stays: the device plugin reports
// it (a pod running on cards it was not given).
func podRows(views []gpushare.NodeView, pods []corev1.Pod) (rows []PodGPU, warnings []string) {
	type key struct{ ns, name string }
	index := map[string]map[string]int{} // node -> uuid -> card index
	requested := map[key]map[string]int64{}
	for _, v := range views {
		index[v.Name] = map[string]int{}
		for _, c := range v.Cards {
			index[v.Name][c.UUID] = c.Index
			for _, p := range c.Pods {
				k := key{p.Namespace, p.Name}
				if requested[k] == nil {
					requested[k] = map[string]int64{}
				}
				requested[k][c.UUID] = p.MemMiB
			}
		}
	}
	for i := range pods {
		pod := &pods[i]
		cards, onGPUNode := index[pod.Spec.NodeName]
		if !onGPUNode || gpushare.Terminal(pod) {
			continue
		}
		used, err := gpushare.PodMemUsed(pod)
		if err != nil && !errors.Is(err, gpushare.ErrNoMemUsed) {
			warnings = append(warnings, fmt.Sprintf("pod %s/%s: %v", pod.Namespace, pod.Name, err))
		}
		own := ownCards(pod)
		for _, uuid := range slices.Sorted(maps.Keys(used)) {
			if _, ok := cards[uuid]; !ok && !slices.Contains(own, uuid) {
				warnings = append(warnings, fmt.Sprintf("pod %s/%s: its use of card %s is not counted: the card is not on its node %s (%s written by that node's device plugin names another node's card, or one no node lists)",
					pod.Namespace, pod.Name, uuid, pod.Spec.NodeName, contract.AnnotationGPUMemUsed))
				delete(used, uuid)
			}
		}
		req := requested[key{pod.Namespace, pod.Name}]
		if len(req) == 0 && len(used) == 0 {
			continue
		}
		rows = append(rows, podRow(pod, req, cards, used))
	}
	sortPods(rows)
	return rows, warnings
}

// ownCards are the cards the extender chose for pod on its node (none
// when its assignment is unreadable or names another node): a card of them
// its node's inventory does not list now (fallen off the bus) is still the
// pod's own.
func ownCards(pod *corev1.Pod) []string {
	a, err := gpushare.PodAssignment(pod)
	if err != nil || (a.NodeName != "" && a.NodeName != pod.Spec.NodeName) {
		return nil
	}
	return a.UUIDs
}

// podRow is one pod's row: per card of req (MiB the pod is charged) or
// used (MiB it uses), the card's index where index knows its UUID.
func podRow(pod *corev1.Pod, req map[string]int64, index map[string]int, used gpushare.MemUsed) PodGPU {
	row := PodGPU{Namespace: pod.Namespace, Name: pod.Name, App: pod.Labels[contract.LabelApp], Node: pod.Spec.NodeName, labels: pod.Labels}
	for _, uuid := range unionKeys(req, used) {
		c := PodCard{Index: -1, UUID: uuid, RequestedMiB: req[uuid]}
		if i, ok := index[uuid]; ok {
			c.Index = i
		}
		if u, ok := used[uuid]; ok {
			c.UsedMiB = &u
			c.Over = u > c.RequestedMiB
		}
		row.Cards = append(row.Cards, c)
	}
	slices.SortFunc(row.Cards, func(a, b PodCard) int { return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.UUID, b.UUID)) })
	return row
}

func sortPods(rows []PodGPU) {
	slices.SortFunc(rows, func(a, b PodGPU) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// CollectPods is what kubectl zz gpu --pods shows a user who may read the
// pods of a namespace but not the nodes or every pod (a tenant with the edit
// or view role): its GPU pods, each on the cards its own assignment
// annotations record (the extender wrote them; the device plugin served
// them), against the use its device plugin published. Collect, which needs
// the nodes, charges a pod only where its assignment agrees with its node's
// inventory; here nothing is checked against the nodes.
func CollectPods(ctx context.Context, client kubernetes.Interface, namespace string) (*Snapshot, error) {
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	s := &Snapshot{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Spec.NodeName == "" || gpushare.Terminal(pod) {
			continue
		}
		req, index := map[string]int64{}, map[string]int{}
		a, err := gpushare.PodAssignment(pod)
		switch {
		case err == nil:
			for j, uuid := range a.UUIDs {
				req[uuid], index[uuid] = a.MemMiB, a.Indexes[j]
			}
		case !errors.Is(err, gpushare.ErrNoAssignment):
			s.Warnings = append(s.Warnings, fmt.Sprintf("pod %s/%s: %v", pod.Namespace, pod.Name, err))
		}
		used, err := gpushare.PodMemUsed(pod)
		if err != nil && !errors.Is(err, gpushare.ErrNoMemUsed) {
			s.Warnings = append(s.Warnings, fmt.Sprintf("pod %s/%s: %v", pod.Namespace, pod.Name, err))
		}
		if len(req) == 0 && len(used) == 0 {
			continue
		}
		s.Pods = append(s.Pods, podRow(pod, req, index, used))
	}
	sortPods(s.Pods)
	return s, nil
}

func unionKeys[V any](a map[string]V, b map[string]int64) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// FilterPods keeps the pods in namespace (metav1.NamespaceAll: every one)
// whose labels match selector.
func FilterPods(pods []PodGPU, namespace string, selector labels.Selector) []PodGPU {
	var out []PodGPU
	for _, p := range pods {
		if (namespace == metav1.NamespaceAll || p.Namespace == namespace) && selector.Matches(labels.Set(p.labels)) {
			out = append(out, p)
		}
	}
	return out
}

// AppGPU sums an app's pods: what they requested and what they use, over
// every card.
type AppGPU struct {
	Namespace    string `json:"namespace"`
	App          string `json:"app"`
	Pods         int    `json:"pods"`
	RequestedMiB int64  `json:"requestedMiB"`
	// UsedMiB sums the cards whose use was published; Unmeasured counts the
	// pods none was published for.
	UsedMiB    int64 `json:"usedMiB"`
	Unmeasured int   `json:"unmeasured,omitempty"`
	// OverPods counts the pods over their request on some card.
	OverPods int `json:"overPods"`
}

// Apps sums pods per namespace and app (pods without the zz.io/app label
// make the app ""), sorted by namespace and app.
func Apps(pods []PodGPU) []AppGPU {
	type key struct{ ns, app string }
	byApp := map[key]*AppGPU{}
	var order []key
	for _, p := range pods {
		k := key{p.Namespace, p.App}
		a := byApp[k]
		if a == nil {
			a = &AppGPU{Namespace: p.Namespace, App: p.App}
			byApp[k] = a
			order = append(order, k)
		}
		a.Pods++
		measured := false
		for _, c := range p.Cards {
			a.RequestedMiB += c.RequestedMiB
			if c.UsedMiB != nil {
				a.UsedMiB += *c.UsedMiB
				measured = true
			}
		}
		if !measured {
			a.Unmeasured++
		}
		if p.Over() {
			a.OverPods++
		}
	}
	out := make([]AppGPU, 0, len(order))
	for _, k := range order {
		out = append(out, *byApp[k])
	}
	slices.SortFunc(out, func(a, b AppGPU) int { return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.App, b.App)) })
	return out
}

// PodTable is kubectl zz gpu --pods: one row per pod and card, NAMESPACE
// first when several namespaces are shown (as kubectl top pod -A does);
// wide adds the card's UUID (what nvidia-smi and the device plugin's logs
// name it by).
func PodTable(pods []PodGPU, showNamespace, wide bool) (header []string, rows [][]string) {
	header = []string{"POD", "APP", "NODE", "CARD", "REQUESTED", "USED", "OVER"}
	if showNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	if wide {
		header = append(header, "UUID")
	}
	for _, p := range pods {
		for _, c := range p.Cards {
			card := strconv.Itoa(c.Index)
			if c.Index < 0 {
				card = c.UUID
			}
			var used int64
			if c.UsedMiB != nil {
				used = *c.UsedMiB
			}
			row := []string{p.Name, none(p.App), p.Node, card, mib(c.RequestedMiB), usedCell(used, c.UsedMiB != nil), strconv.FormatBool(c.Over)}
			if showNamespace {
				row = append([]string{p.Namespace}, row...)
			}
			if wide {
				row = append(row, c.UUID)
			}
			rows = append(rows, row)
		}
	}
	return header, rows
}

// AppTable is the per-app summary under kubectl zz gpu --pods.
func AppTable(apps []AppGPU, showNamespace bool) (header []string, rows [][]string) {
	header = []string{"APP", "PODS", "REQUESTED", "USED", "OVER"}
	if showNamespace {
		header = append([]string{"NAMESPACE"}, header...)
	}
	for _, a := range apps {
		used := mib(a.UsedMiB)
		if a.Unmeasured == a.Pods {
			used = usedCell(0, false)
		} else if a.Unmeasured > 0 {
			used += fmt.Sprintf(" (%d pods unknown)", a.Unmeasured)
		}
		row := []string{none(a.App), strconv.Itoa(a.Pods), mib(a.RequestedMiB), used, strconv.Itoa(a.OverPods)}
		if showNamespace {
			row = append([]string{a.Namespace}, row...)
		}
		rows = append(rows, row)
	}
	return header, rows
}

// nodeCard is one card of one node: a card's use is what pods on its node
// published (a UUID two nodes list is two entries).
type nodeCard struct{ node, uuid string }

// usedByCard is the published use by node and card, and namespace/pod.
func (s *Snapshot) usedByCard() map[nodeCard]map[string]int64 {
	out := map[nodeCard]map[string]int64{}
	for _, p := range s.Pods {
		for _, c := range p.Cards {
			if c.UsedMiB == nil {
				continue
			}
			k := nodeCard{p.Node, c.UUID}
			if out[k] == nil {
				out[k] = map[string]int64{}
			}
			out[k][p.Namespace+"/"+p.Name] = *c.UsedMiB
		}
	}
	return out
}

// usedCell prints measured memory, or <unknown> when nothing was published.
func usedCell(v int64, known bool) string {
	if !known {
		return "<unknown>"
	}
	return mib(v)
}

func none(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
