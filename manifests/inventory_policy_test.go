package manifests

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/zzcloud/zz/internal/contract"
)

// celRawRegex finds the raw-string patterns of matches() in a policy.
var celRawRegex = regexp.MustCompile(`matches\(r'([^']*)'\)`)

// TestInventoryPolicyAgreesWithValidate runs the two patterns of
// zz-gpu-node-inventory's printable-ASCII rule (RE2, as CEL's matches
// uses) on inventories the device plugin would write (encoding/json), and
// wants the same verdict as contract.NodeGPUInventory.Validate on each
// model: the policy refuses at write what the extender would refuse at
// read, and nothing the device plugin writes.
func TestInventoryPolicyAgreesWithValidate(t *testing.T) {
	raw, err := os.ReadFile("policies/nodes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := celRawRegex.FindAllStringSubmatch(string(raw), -1)
	if len(m) != 2 {
		t.Fatalf("nodes.yaml has %d matches(r'...') patterns, want 2 (printable, no control escape)", len(m))
	}
	printable, escape := regexp.MustCompile(m[0][1]), regexp.MustCompile(m[1][1])
	for _, tc := range []struct {
		model string
		ok    bool
	}{
		{"NVIDIA A100-SXM4-40GB", true},
		{"Tesla T4 <x> & 'y' \"z\"", true}, // encoding/json escapes <, >, & as \u003c ...
		{`C:\new\tab\\n`, true},            // backslashes, escaped: text, not \n
		{"Tesla T4\t15Gi\t0Mi\ngpu-a100-1\t8\tNVIDIA H100", false},
		{"A100\a", false},
		{"A100\x1b]0;pwned\a", false},
		{"A100\r", false},
		{"A100\x7f", false},
		{"A100\u009b2J", false},
		{"A100\u202e", false},
		{"A100 é", false},
		{`\` + "\n", false}, // a backslash, then a newline
	} {
		inv := &contract.NodeGPUInventory{Version: contract.InventoryVersion,
			Cards: []contract.GPU{{UUID: "GPU-a", Model: tc.model, MemoryMiB: 1, Healthy: true}}}
		if err := inv.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok %v", tc.model, err, tc.ok)
			continue
		}
		inv.Cards[0].Model = "" // Encode validates; the policy judges the JSON the plugin would send
		value, err := inv.Encode()
		if err != nil {
			t.Fatal(err)
		}
		value = strings.Replace(value, `"model":""`, `"model":`+jsonString(t, tc.model), 1)
		admitted := printable.MatchString(value) && !escape.MatchString(value)
		if admitted != tc.ok {
			t.Errorf("policy on %s: admitted %v, want %v", value, admitted, tc.ok)
		}
	}
}

func jsonString(t *testing.T, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
