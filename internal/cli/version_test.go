package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/zzcloud/zz/internal/version"
)

func TestVersion(t *testing.T) {
	tests := []struct {
		output  string
		check   func(t *testing.T, out string)
		wantErr string
	}{
		{output: "", check: func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "kubectl-zz ") {
				t.Errorf("plain output = %q", out)
			}
		}},
		{output: "json", check: func(t *testing.T, out string) {
			var info version.Info
			if err := json.Unmarshal([]byte(out), &info); err != nil || info.GoVersion == "" {
				t.Errorf("json output %q: %v", out, err)
			}
		}},
		{output: "yaml", check: func(t *testing.T, out string) {
			var info version.Info
			if err := yaml.Unmarshal([]byte(out), &info); err != nil || info.Platform == "" {
				t.Errorf("yaml output %q: %v", out, err)
			}
		}},
		{output: "jsonpath={.gitVersion}", check: func(t *testing.T, out string) {
			if out != version.Get().GitVersion {
				t.Errorf("jsonpath output = %q", out)
			}
		}},
		{output: "table", wantErr: `--output "table" is not supported`},
	}
	for _, tt := range tests {
		t.Run("output="+tt.output, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			root := NewCmdZZ(streams)
			args := []string{"version"}
			if tt.output != "" {
				args = append(args, "-o", tt.output)
			}
			root.SetArgs(args)
			err := root.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, stderr %s", err, errOut)
			}
			tt.check(t, out.String())
		})
	}
}

func TestCompletionCommand(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	root := NewCmdZZ(streams)
	root.SetArgs([]string{"completion", "bash"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "complete -o default -F __start_kubectl-zz kubectl-zz") {
		t.Fatalf("bash completion does not mention the command:\n%.300s", out.String())
	}
}
