//go:build zzprof

package cmd

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// With -tags zzprof, ZZ_LOGS_MEMPROFILE=PATH makes kubectl zz logs write, when
// it exits (Ctrl-C), a heap profile to PATH (go tool pprof -sample_index=
// alloc_space or inuse_space) and its memory figures to PATH.txt: the Go
// runtime's view and /proc/self/status (RSS split into anonymous and file).
// Not in release builds: runtime/pprof would only make the binary larger.
func init() {
	path := os.Getenv("ZZ_LOGS_MEMPROFILE")
	if path == "" {
		return
	}
	logsAtExit = func() {
		if err := writeMemProfile(path); err != nil {
			fmt.Fprintln(os.Stderr, "ZZ_LOGS_MEMPROFILE:", err)
		}
	}
}

func writeMemProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, _ := os.ReadFile("/proc/self/status")
	txt := fmt.Sprintf("goroutines %d\nHeapInuse %d\nHeapSys %d\nHeapReleased %d\nStackInuse %d\nMSpanInuse %d\nGCSys %d\nOtherSys %d\nSys %d\nNumGC %d\nTotalAlloc %d\nMallocs %d\n\n%s",
		runtime.NumGoroutine(), ms.HeapInuse, ms.HeapSys, ms.HeapReleased, ms.StackInuse, ms.MSpanInuse, ms.GCSys, ms.OtherSys, ms.Sys, ms.NumGC, ms.TotalAlloc, ms.Mallocs, status)
	return os.WriteFile(path+".txt", []byte(txt), 0o644)
}
