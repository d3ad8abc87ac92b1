package appspec

import (
	"slices"
	"testing"
)

func TestNotUnderstood(t *testing.T) {
	for _, tc := range []struct {
		name, js string
		want     []string
		err      bool
	}{
		{"as this version writes it", `{"apiVersion":"zz.io/v1","kind":"App","name":"shop","spec":{"type":"web","image":"r/shop:1","replicas":2}}`, nil, false},
		{"a field of a newer version", `{"name":"shop","spec":{"type":"web","image":"r/shop:1","futureAuth":{"mode":"mtls"}}}`, []string{"spec.futureAuth"}, false},
		{"nested and top level", `{"name":"shop","extra":1,"spec":{"type":"web","image":"r/shop:1","env":{"A":"1"},"sidecars":[{"name":"auth","image":"p:1","mtls":true}]}}`, []string{"extra", "spec.sidecars[0].mtls"}, false},
		{"a value of another type", `{"name":"shop","spec":{"type":"web","image":"r/shop:1","replicas":"two"}}`, []string{"spec.replicas"}, false},
		{"not an object", `[1]`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NotUnderstood([]byte(tc.js))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("NotUnderstood = %q, want %q", got, tc.want)
			}
		})
	}
}
