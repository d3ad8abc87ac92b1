package extender

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// FuzzHandler throws arbitrary bodies at every verb: the server must answer
// 200 or 400, never panic, and never hold memory for a call that failed.
func FuzzHandler(f *testing.F) {
	f.Add("/gpu/filter", `{"Pod":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","resources":{"limits":{"zz.io/gpu-mem":"4Gi"}}}]}},"NodeNames":["n","x"]}`)
	f.Add("/gpu/prioritize", `{"Pod":{"spec":{"containers":[{"resources":{"limits":{"zz.io/gpu-mem":"-1","zz.io/gpu":"99"}}}]}},"NodeNames":["n"]}`)
	f.Add("/balance/prioritize", `{"Pod":{"spec":{"containers":[{"resources":{"requests":{"cpu":"1e9"}}}]}},"Nodes":{"items":[{"metadata":{"name":"n"}}]}}`)
	f.Add("/gpu/bind", `{"PodName":"p","PodNamespace":"ns","Node":"n"}`)
	f.Add("/gpu/preempt", `{"Pod":{"metadata":{"uid":"u"},"spec":{"priority":9,"containers":[{"resources":{"limits":{"zz.io/gpu-mem":"4Gi"}}}]}},"NodeNameToMetaVictims":{"n":{"Pods":[{"UID":"x"},null]},"y":null}}`)
	f.Add("/gpu/preempt", `{"Pod":{"spec":{"containers":[{"resources":{"limits":{"zz.io/gpu-mem":"4Gi"}}}]}},"NodeNameToVictims":{"n":{"Pods":[null,{"metadata":{"uid":"a"}}],"NumPDBViolations":-1}}}`)
	f.Add("/gpu/filter", `{"Pod":null,"NodeNames":null}`)
	f.Add("/gpu/prioritize", `{"Pod":{"metadata":{"annotations":{"zz.io/gpu-model":"T,,t","zz.io/gpu-model-avoid":"x","zz.io/gpu-numa-bind":"true"}},"spec":{"containers":[{"resources":{"limits":{"zz.io/gpu-mem":"1Gi","zz.io/gpu":"2"}}}]}},"NodeNames":["n"]}`)
	e := newEnv(f, []*corev1.Node{gpuNode("n", 16000, 8000)})
	f.Fuzz(func(t *testing.T, path, body string) {
		switch path {
		case "/gpu/filter", "/gpu/prioritize", "/balance/prioritize", "/gpu/bind", "/gpu/preempt":
		default:
			path = "/gpu/filter"
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("%s: status %d", path, rec.Code)
		}
		cards, err := e.ledger.Cards("n")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cards {
			if c.UsedMiB != 0 {
				t.Fatalf("card %d holds %d MiB after %s %q", c.Index, c.UsedMiB, path, body)
			}
		}
	})
}
