package extender

import (
	"encoding/json"
	"reflect"
	"testing"

	extenderv1 "k8s.io/kube-scheduler/extender/v1"
)

func TestNameListDecodesAsEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		json string
		fast bool
	}{
		{"plain", `{"NodeNames":["a","node-2","n.x.y"]}`, true},
		{"spaces", "{\"NodeNames\": [ \"a\" ,\n\t\"b\" ] }", true},
		{"empty", `{"NodeNames":[]}`, true},
		{"null", `{"NodeNames":null}`, true},
		{"absent", `{}`, true},
		{"escaped quote", `{"NodeNames":["a\"b","c"]}`, false},
		{"unicode escape", `{"NodeNames":["\u00e9t\u00e9"]}`, false},
		{"utf-8", `{"NodeNames":["été"]}`, false},
		{"lower-case key", `{"nodenames":["a"]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want extenderv1.ExtenderArgs
			if err := json.Unmarshal([]byte(tt.json), &want); err != nil {
				t.Fatal(err)
			}
			var got wireArgs
			if err := json.Unmarshal([]byte(tt.json), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.args().NodeNames, want.NodeNames) {
				t.Fatalf("names %v, encoding/json says %v", got.args().NodeNames, want.NodeNames)
			}
		})
	}
}

func TestNameListRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for _, in := range []string{`{"NodeNames":["a",1]}`, `{"NodeNames":{"a":"b"}}`, `{"NodeNames":"a"}`, `{"NodeNames":["a"`} {
		var got wireArgs
		if err := json.Unmarshal([]byte(in), &got); err == nil {
			t.Errorf("%s: decoded as %v, want an error", in, got.NodeNames)
		}
	}
}

func TestAppendPrioritiesIsJSON(t *testing.T) {
	list := extenderv1.HostPriorityList{{Host: "node-1", Score: 10}, {Host: `we"ird\`, Score: 0}, {Host: "été", Score: -3}, {Host: "a<b>", Score: 7}}
	var got extenderv1.HostPriorityList
	if err := json.Unmarshal(appendPriorities(nil, list), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, list) {
		t.Fatalf("round trip %v, want %v", got, list)
	}
	if string(appendPriorities(nil, nil)) != "[]" {
		t.Fatalf("empty list encodes as %q", appendPriorities(nil, nil))
	}
}

// FuzzNameList: whatever encoding/json decodes as a list of names, the
// fast decoder decodes the same.
func FuzzNameList(f *testing.F) {
	f.Add(`["a","b"]`)
	f.Add(`[ "x" , "y\"z" ]`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, list string) {
		var want []string
		if json.Unmarshal([]byte(list), &want) != nil {
			return
		}
		var got nameList
		if err := json.Unmarshal([]byte(list), &got); err != nil {
			t.Fatalf("%q: %v", list, err)
		}
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual([]string(got), want)) {
			t.Fatalf("%q: got %q, want %q", list, got, want)
		}
	})
}
