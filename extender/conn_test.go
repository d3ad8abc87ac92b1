package extender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
)

// schedulerSend is kube-scheduler's HTTPExtender.send
// (pkg/scheduler/extender.go): marshal, POST, close the body unread past the
// JSON value. The transport reuses the connection only when that decode
// reaches the body's end; a reply with bytes after the value, or chunked,
// costs the scheduler a new TCP connection for every call.
func schedulerSend(client *http.Client, url string, args, result any) error {
	out, err := json.Marshal(args)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(out))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(result)
}

// TestSchedulerKeepsItsConnection calls every verb the way kube-scheduler
// does, with 1,000 node names (replies of several KiB), and counts the
// connections the extender accepts: one, however many calls.
func TestSchedulerKeepsItsConnection(t *testing.T) {
	var nodes []*corev1.Node
	var all []string
	for i := range 1000 {
		name := fmt.Sprintf("node-%04d", i)
		all = append(all, name)
		if i%4 == 0 {
			nodes = append(nodes, gpuNode(name, 16000, 16000))
			continue
		}
		nodes = append(nodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")}}})
	}
	e := newEnv(t, nodes)
	// Connections that served a call: Go's transport may dial a spare one
	// when its idle connection is not back in the pool yet (its read loop
	// puts it there after the body's end), which then serves nothing (a
	// loaded machine saw 2 connections of 60 calls).
	var mu sync.Mutex
	served := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(e.handler)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateActive {
			mu.Lock()
			served[c] = true
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	const calls = 20
	for i := range calls {
		args := extenderv1.ExtenderArgs{Pod: gpuPod(fmt.Sprint("p", i), "1Gi", 0), NodeNames: &all}
		var filtered extenderv1.ExtenderFilterResult
		if err := schedulerSend(client, srv.URL+"/gpu/filter", args, &filtered); err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"/gpu/prioritize", "/balance/prioritize"} {
			var list extenderv1.HostPriorityList
			if err := schedulerSend(client, srv.URL+verb, args, &list); err != nil {
				t.Fatal(err)
			}
			if len(list) == 0 {
				t.Fatalf("%s: no scores", verb)
			}
		}
	}
	mu.Lock()
	n := len(served)
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d calls made %d connections, want 1: the scheduler could not reuse its connection", 3*calls, n)
	}
}
