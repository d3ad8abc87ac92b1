//go:build zzprof

package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// With -tags zzprof, ZZ_LOGS_MEMPROFILE=PATH makes kubectl zz logs write, when
// it exits (Ctrl-C), a heap profile to PATH (sampled every 4 KiB), the goroutines to PATH.goroutines (go tool pprof -sample_index=
// alloc_space or inuse_space) and its memory figures to PATH.txt: the Go
// runtime's view and /proc/self/status (RSS split into anonymous and file).
// ZZ_LOGS_MEMPROFILE_AT=DURATION also writes PATH.at and PATH.at.txt that
// long after the start, while the streams are open.
// Not in release builds: runtime/pprof would only make the binary larger.
func init() {
	path := os.Getenv("ZZ_LOGS_MEMPROFILE")
	if path == "" {
		return
	}
	runtime.MemProfileRate = 4 << 10 // finer than the default 512 KiB
	if at, err := time.ParseDuration(os.Getenv("ZZ_LOGS_MEMPROFILE_AT")); err == nil {
		time.AfterFunc(at, func() {
			runtime.GC() // the in-use profile is as of the last GC
			if err := writeMemProfile(path + ".at"); err != nil {
				fmt.Fprintln(os.Stderr, "ZZ_LOGS_MEMPROFILE_AT:", err)
			}
		})
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
	g, err := os.Create(path + ".goroutines")
	if err != nil {
		return err
	}
	if err := pprof.Lookup("goroutine").WriteTo(g, 1); err != nil {
		g.Close()
		return err
	}
	if err := g.Close(); err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, _ := os.ReadFile("/proc/self/status")
	txt := fmt.Sprintf("goroutines %d\nHeapInuse %d\nHeapSys %d\nHeapReleased %d\nStackInuse %d\nMSpanInuse %d\nGCSys %d\nOtherSys %d\nSys %d\nNumGC %d\nTotalAlloc %d\nMallocs %d\n\n%s",
		runtime.NumGoroutine(), ms.HeapInuse, ms.HeapSys, ms.HeapReleased, ms.StackInuse, ms.MSpanInuse, ms.GCSys, ms.OtherSys, ms.Sys, ms.NumGC, ms.TotalAlloc, ms.Mallocs, status)
	return os.WriteFile(path+".txt", []byte(txt), 0o644)
}
