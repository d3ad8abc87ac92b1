package deviceplugin

import (
	"errors"
	"strings"
	"testing"
)

// TestNewNVML runs in both builds: go test ./deviceplugin/ (the release's,
// no mock) and go test -tags zzmock ./deviceplugin/ (make unit runs both).
func TestNewNVML(t *testing.T) {
	for _, tc := range []struct {
		backend  string
		wantErr  string // "" for none
		wantMock bool   // a control handler comes back
	}{
		{backend: "real"},
		{backend: "mock:dgxa100", wantMock: true},
		{backend: "mock:nope", wantErr: "nope"},
		{backend: "fake", wantErr: "use real"},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			want := tc.wantErr
			if !MockNVML && strings.HasPrefix(tc.backend, "mock:") {
				want = ErrNoMockNVML.Error()
			}
			lib, control, err := newNVML(tc.backend, "n1")
			if want != "" {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("newNVML(%q) = %v, want an error with %q", tc.backend, err, want)
				}
				if strings.HasPrefix(tc.backend, "mock:") && !MockNVML && !errors.Is(err, ErrNoMockNVML) {
					t.Errorf("error %v does not wrap ErrNoMockNVML", err)
				}
				return
			}
			if err != nil || lib == nil {
				t.Fatalf("newNVML(%q) = %v, %v", tc.backend, lib, err)
			}
			if (control != nil) != tc.wantMock {
				t.Errorf("newNVML(%q): control handler %v, want one: %v", tc.backend, control != nil, tc.wantMock)
			}
		})
	}
}
