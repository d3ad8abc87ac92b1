// Package mocknvml completes go-nvml's mock DGX servers so the device plugin
// runs on them end to end: card UUIDs are stable for a node (a restarted
// plugin sees the same cards, as on real hardware), and utilisation, running
// processes, XID events and lost cards can be set while it runs, from Go or
// through Handler's HTTP endpoints. The upstream mocks leave those calls nil
// (they panic) and have no events.
package mocknvml

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh200"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/google/uuid"
)

// Models are the machines New can mock.
var Models = map[string]func() *server.Server{
	"dgxa100": dgxa100.New,
	"dgxh100": dgxh100.New,
	"dgxh200": dgxh200.New,
}

// ModelNames lists Models' keys, sorted, for flag help and errors.
func ModelNames() []string {
	names := make([]string, 0, len(Models))
	for n := range Models {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Process is one process on a card, as a test sets it.
type Process struct {
	PID     uint32 `json:"pid"`
	UsedMiB uint64 `json:"usedMiB"`
}

// Server is a mock machine. It implements nvml.Interface.
type Server struct {
	*server.Server

	mu     sync.Mutex
	procs  map[string][]Process // by card UUID
	util   map[string]uint32    // percent, by card UUID
	lost   map[string]bool
	ecc    map[string]uint64 // volatile uncorrected ECC errors, by card UUID
	events chan nvml.EventData
}

var _ nvml.Interface = (*Server)(nil)

// uuidSpace names the mock UUIDs: a card's UUID is derived from the node's
// name and its index.
var uuidSpace = uuid.MustParse("6f1b7e0c-2a53-4f7b-9b52-5d0c7b8e4a10")

// New mocks model (see Models) on node.
func New(model, node string) (*Server, error) {
	mk, ok := Models[model]
	if !ok {
		return nil, fmt.Errorf("unknown mock machine %q; known: %v", model, ModelNames())
	}
	s := &Server{Server: mk(), procs: map[string][]Process{}, util: map[string]uint32{},
		lost: map[string]bool{}, ecc: map[string]uint64{}, events: make(chan nvml.EventData, 64)}
	for i, dev := range s.Devices {
		d := dev.(*server.Device)
		d.UUID = "GPU-" + uuid.NewSHA1(uuidSpace, []byte(node+"/"+strconv.Itoa(i))).String()
		s.complete(d)
		// Two sockets, as on the DGX machines: the first half of the cards
		// on NUMA node 0, the rest on node 1.
		numa := 2 * i / len(s.Devices)
		d.GetNumaNodeIdFunc = func() (int, nvml.Return) { return numa, nvml.SUCCESS }
	}
	s.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) { return s.eventSet(), nvml.SUCCESS }
	return s, nil
}

// complete sets the calls the plugin makes that the upstream mock leaves nil
// (New also sets each card's NUMA node).
func (s *Server) complete(d *server.Device) {
	total := d.MemoryInfo.Total
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.lost[d.UUID] {
			return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST
		}
		var used uint64
		for _, p := range s.procs[d.UUID] {
			used += p.UsedMiB << 20
		}
		used = min(used, total)
		return nvml.Memory{Total: total, Used: used, Free: total - used}, nvml.SUCCESS
	}
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.lost[d.UUID] {
			return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST
		}
		return nvml.Utilization{Gpu: s.util[d.UUID]}, nvml.SUCCESS
	}
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.lost[d.UUID] {
			return nil, nvml.ERROR_GPU_IS_LOST
		}
		out := make([]nvml.ProcessInfo, 0, len(s.procs[d.UUID]))
		for _, p := range s.procs[d.UUID] {
			out = append(out, nvml.ProcessInfo{Pid: p.PID, UsedGpuMemory: p.UsedMiB << 20})
		}
		return out, nvml.SUCCESS
	}
	d.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return nvml.SUCCESS }
	d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, c nvml.EccCounterType) (uint64, nvml.Return) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.lost[d.UUID] {
			return 0, nvml.ERROR_GPU_IS_LOST
		}
		if t != nvml.MEMORY_ERROR_TYPE_UNCORRECTED || c != nvml.VOLATILE_ECC {
			return 0, nvml.SUCCESS
		}
		return s.ecc[d.UUID], nvml.SUCCESS
	}
}

// eventSet delivers the XIDs InjectXID queues. The plugin makes one.
func (s *Server) eventSet() nvml.EventSet {
	return &mock.EventSet{
		WaitFunc: func(timeoutMs uint32) (nvml.EventData, nvml.Return) {
			select {
			case e := <-s.events:
				return e, nvml.SUCCESS
			case <-time.After(time.Duration(timeoutMs) * time.Millisecond):
				return nvml.EventData{}, nvml.ERROR_TIMEOUT
			}
		},
		FreeFunc: func() nvml.Return { return nvml.SUCCESS },
	}
}

func (s *Server) device(uuid string) (*server.Device, error) {
	for _, dev := range s.Devices {
		if d := dev.(*server.Device); d.UUID == uuid {
			return d, nil
		}
	}
	return nil, fmt.Errorf("no card with UUID %q on this mock machine", uuid)
}

// InjectXID raises an XID critical error on a card. XIDs 48 (double-bit
// ECC) and 95 (uncontained ECC) also count an uncorrected ECC error in the
// card's volatile counter, as the driver does, until Reset.
func (s *Server) InjectXID(uuid string, xid uint64) error {
	d, err := s.device(uuid)
	if err != nil {
		return err
	}
	if xid == 48 || xid == 95 {
		s.mu.Lock()
		s.ecc[uuid]++
		s.mu.Unlock()
	}
	select {
	case s.events <- nvml.EventData{Device: d, EventType: nvml.EventTypeXidCriticalError, EventData: xid}:
		return nil
	default:
		return fmt.Errorf("event queue full: is the plugin waiting for events?")
	}
}

// Reset is a GPU reset (nvidia-smi -r): the card answers again and its
// volatile ECC counters are zero.
func (s *Server) Reset(uuid string) error {
	if _, err := s.device(uuid); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost[uuid], s.ecc[uuid] = false, 0
	return nil
}

// SetLost makes a card unreachable (NVML answers GPU_IS_LOST) or brings it back.
func (s *Server) SetLost(uuid string, lost bool) error {
	if _, err := s.device(uuid); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost[uuid] = lost
	return nil
}

// SetProcesses replaces the processes running on a card.
func (s *Server) SetProcesses(uuid string, procs []Process) error {
	if _, err := s.device(uuid); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs[uuid] = slices.Clone(procs)
	return nil
}

// SetUtilization sets a card's GPU utilisation in percent.
func (s *Server) SetUtilization(uuid string, percent uint32) error {
	if _, err := s.device(uuid); err != nil {
		return err
	}
	if percent > 100 {
		return fmt.Errorf("utilisation %d%% is over 100", percent)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.util[uuid] = percent
	return nil
}

// Handler serves the setters for tests and demos driving a running plugin:
//
//	POST /xid?uuid=U&xid=79
//	POST /lost?uuid=U&lost=true|false
//	POST /reset?uuid=U
//	POST /utilization?uuid=U&percent=40
//	PUT  /processes?uuid=U   body: [{"pid":123,"usedMiB":2048}]
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	mux.HandleFunc("POST /xid", func(w http.ResponseWriter, r *http.Request) {
		xid, err := strconv.ParseUint(r.URL.Query().Get("xid"), 10, 64)
		if err != nil {
			reply(w, fmt.Errorf("xid: %w", err))
			return
		}
		reply(w, s.InjectXID(r.URL.Query().Get("uuid"), xid))
	})
	mux.HandleFunc("POST /lost", func(w http.ResponseWriter, r *http.Request) {
		lost, err := strconv.ParseBool(r.URL.Query().Get("lost"))
		if err != nil {
			reply(w, fmt.Errorf("lost: %w", err))
			return
		}
		reply(w, s.SetLost(r.URL.Query().Get("uuid"), lost))
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Reset(r.URL.Query().Get("uuid")))
	})
	mux.HandleFunc("POST /utilization", func(w http.ResponseWriter, r *http.Request) {
		p, err := strconv.ParseUint(r.URL.Query().Get("percent"), 10, 32)
		if err != nil {
			reply(w, fmt.Errorf("percent: %w", err))
			return
		}
		reply(w, s.SetUtilization(r.URL.Query().Get("uuid"), uint32(p)))
	})
	mux.HandleFunc("PUT /processes", func(w http.ResponseWriter, r *http.Request) {
		var procs []Process
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&procs); err != nil {
			reply(w, fmt.Errorf("body: want a JSON list of {\"pid\":N,\"usedMiB\":N}: %w", err))
			return
		}
		reply(w, s.SetProcesses(r.URL.Query().Get("uuid"), procs))
	})
	return mux
}
