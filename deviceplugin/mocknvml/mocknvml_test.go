package mocknvml

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

func TestStableUUIDs(t *testing.T) {
	a, _ := New("dgxa100", "node-a")
	again, _ := New("dgxa100", "node-a")
	b, _ := New("dgxa100", "node-b")
	u := func(s *Server, i int) string {
		d, _ := s.DeviceGetHandleByIndex(i)
		id, _ := d.GetUUID()
		return id
	}
	if u(a, 3) != u(again, 3) || u(a, 3) == u(b, 3) || u(a, 3) == u(a, 4) {
		t.Fatalf("UUIDs must be stable per node and index: %s %s %s %s", u(a, 3), u(again, 3), u(b, 3), u(a, 4))
	}
	if d, ret := a.DeviceGetHandleByUUID(u(a, 3)); ret != nvml.SUCCESS || d == nil {
		t.Fatalf("lookup by the new UUID: %v", ret)
	}
	if _, err := New("dgx9000", "n"); err == nil || !strings.Contains(err.Error(), "dgxa100") {
		t.Fatalf("unknown model: %v", err)
	}
}

func TestControls(t *testing.T) {
	s, _ := New("dgxh100", "n")
	d, _ := s.DeviceGetHandleByIndex(0)
	uuid, _ := d.GetUUID()
	if err := s.SetProcesses(uuid, []Process{{PID: 7, UsedMiB: 1024}, {PID: 8, UsedMiB: 2048}}); err != nil {
		t.Fatal(err)
	}
	procs, ret := d.GetComputeRunningProcesses()
	mem, _ := d.GetMemoryInfo()
	if ret != nvml.SUCCESS || len(procs) != 2 || procs[1].UsedGpuMemory != 2048<<20 || mem.Used != 3072<<20 || mem.Free != mem.Total-mem.Used {
		t.Fatalf("processes %v %v, memory %+v", procs, ret, mem)
	}
	if err := s.SetUtilization(uuid, 40); err != nil {
		t.Fatal(err)
	}
	if u, _ := d.GetUtilizationRates(); u.Gpu != 40 {
		t.Fatalf("utilisation %v", u)
	}
	if err := s.SetLost(uuid, true); err != nil {
		t.Fatal(err)
	}
	if _, ret := d.GetMemoryInfo(); ret != nvml.ERROR_GPU_IS_LOST {
		t.Fatalf("lost card answered %v", ret)
	}
	set, _ := s.EventSetCreate()
	if _, ret := set.Wait(10); ret != nvml.ERROR_TIMEOUT {
		t.Fatalf("no event: %v", ret)
	}
	if err := s.InjectXID(uuid, 79); err != nil {
		t.Fatal(err)
	}
	e, ret := set.Wait(1000)
	if ret != nvml.SUCCESS || e.EventData != 79 || e.EventType != nvml.EventTypeXidCriticalError {
		t.Fatalf("event %+v %v", e, ret)
	}
	if got, _ := e.Device.GetUUID(); got != uuid {
		t.Fatalf("event on %s, want %s", got, uuid)
	}
	for _, err := range []error{s.InjectXID("GPU-nope", 1), s.SetLost("GPU-nope", true), s.SetUtilization(uuid, 101)} {
		if err == nil {
			t.Fatal("bad input accepted")
		}
	}
}

func TestHandler(t *testing.T) {
	s, _ := New("dgxa100", "n")
	d, _ := s.DeviceGetHandleByIndex(1)
	uuid, _ := d.GetUUID()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/processes?uuid=" + uuid, `[{"pid":1,"usedMiB":5}]`, http.StatusNoContent},
		{"PUT", "/processes?uuid=" + uuid, `[{"pid":1,"used":5}]`, http.StatusBadRequest},
		{"PUT", "/processes?uuid=GPU-x", `[]`, http.StatusBadRequest},
		{"POST", "/xid?uuid=" + uuid + "&xid=48", "", http.StatusNoContent},
		{"POST", "/xid?uuid=" + uuid + "&xid=abc", "", http.StatusBadRequest},
		{"POST", "/lost?uuid=" + uuid + "&lost=yes", "", http.StatusBadRequest},
		{"POST", "/lost?uuid=" + uuid + "&lost=false", "", http.StatusNoContent},
		{"POST", "/utilization?uuid=" + uuid + "&percent=55", "", http.StatusNoContent},
		{"GET", "/xid", "", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
	if procs, _ := d.GetComputeRunningProcesses(); len(procs) != 1 || procs[0].UsedGpuMemory != 5<<20 {
		t.Fatalf("processes after the handler: %v", procs)
	}
}
