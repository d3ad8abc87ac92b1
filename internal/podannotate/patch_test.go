package podannotate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPatch(t *testing.T) {
	client := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1",
		Annotations: map[string]string{"keep": "1", "drop": "2"}}})
	if err := Patch(t.Context(), client, "ns", "p", "u1", map[string]*string{"drop": nil, "add": new("3")}); err != nil {
		t.Fatal(err)
	}
	if err := Set(t.Context(), client, "ns", "p", "u1", map[string]string{"set": "4"}); err != nil {
		t.Fatal(err)
	}
	p, err := client.CoreV1().Pods("ns").Get(t.Context(), "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"keep": "1", "add": "3", "set": "4"}
	if len(p.Annotations) != len(want) {
		t.Fatalf("annotations = %v, want %v", p.Annotations, want)
	}
	for k, v := range want {
		if p.Annotations[k] != v {
			t.Fatalf("annotations = %v, want %v", p.Annotations, want)
		}
	}
}
