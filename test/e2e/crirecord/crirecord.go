// Package crirecord is the file format test/e2e/fakecri writes and the e2e
// framework reads: one JSON line per CreateContainer request the kubelet made.
package crirecord

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Container is one CreateContainer request: what the kubelet handed the
// container (the device plugin's env, devices, mounts, annotations and CDI
// devices).
type Container struct {
	Time        time.Time         `json:"time"`
	ContainerID string            `json:"containerID"`
	Namespace   string            `json:"namespace"`
	Pod         string            `json:"pod"`
	PodUID      string            `json:"podUID"`
	Container   string            `json:"container"`
	Attempt     uint32            `json:"attempt"`
	Env         map[string]string `json:"env"`
	Devices     []string          `json:"devices,omitempty"`
	Mounts      []string          `json:"mounts,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// CDIDevices are the CDI device names the kubelet passed (from the
	// device plugin's CDIDevices).
	CDIDevices []string `json:"cdiDevices,omitempty"`
}

// ReadFile returns every container recorded in path, in order.
func ReadFile(path string) ([]Container, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Container
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c Container
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}
