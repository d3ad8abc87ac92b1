package deviceplugin

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"
)

// CardCollector exports each card's memory and utilisation as NVML reads them.
type CardCollector struct {
	Lib    nvml.Interface
	Plugin *Plugin
}

// mib is a MiB in bytes: metrics are in base units.
const mib = 1 << 20

var (
	cardLabels   = []string{"uuid", "index", "model"}
	memTotalDesc = prometheus.NewDesc("zz_gpu_card_memory_capacity_bytes", "Card memory (NVML).", cardLabels, nil)
	memUsedDesc  = prometheus.NewDesc("zz_gpu_card_memory_used_bytes", "Card memory in use by processes (NVML).", cardLabels, nil)
	utilDesc     = prometheus.NewDesc("zz_gpu_card_utilization_ratio", "Share of time a kernel ran over the last sample period (NVML).", cardLabels, nil)
	healthyDesc  = prometheus.NewDesc("zz_gpu_card_healthy", "1 when the card's slots are advertised healthy.", cardLabels, nil)
)

func (c *CardCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{memTotalDesc, memUsedDesc, utilDesc, healthyDesc} {
		ch <- d
	}
}

func (c *CardCollector) Collect(ch chan<- prometheus.Metric) {
	for _, card := range c.Plugin.Cards() {
		lv := []string{card.UUID, fmt.Sprint(card.Index), card.Model}
		healthy := 0.0
		if card.Healthy {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, healthy, lv...)
		ch <- prometheus.MustNewConstMetric(memTotalDesc, prometheus.GaugeValue, float64(card.MemoryMiB)*mib, lv...)
		d, ret := c.Lib.DeviceGetHandleByUUID(card.UUID)
		if ret != nvml.SUCCESS {
			continue
		}
		if mem, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
			ch <- prometheus.MustNewConstMetric(memUsedDesc, prometheus.GaugeValue, float64(mem.Used), lv...)
		}
		if u, ret := d.GetUtilizationRates(); ret == nvml.SUCCESS {
			ch <- prometheus.MustNewConstMetric(utilDesc, prometheus.GaugeValue, float64(u.Gpu)/100, lv...)
		}
	}
}
