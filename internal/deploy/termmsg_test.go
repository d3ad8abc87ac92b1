package deploy

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestTerminationMessage: the reason a crash's log tail gives is the line
// that says why, not the banner the image printed first (an app-developer
// audit: fluent-bit, nginx and oauth2-proxy showed their first line). The
// tails are the shapes these programs print.
func TestTerminationMessage(t *testing.T) {
	tests := []struct {
		name, msg, want string
	}{
		{name: "empty", msg: " \n\n", want: ""},
		{name: "one line", msg: "missing --credentials-file\n", want: "missing --credentials-file"},
		{name: "go panic with its stack", msg: `panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]

goroutine 1 [running]:
main.loadConfig(...)
	/src/main.go:42 +0x2c
main.handleError()
	/src/main.go:12 +0x1d
exit status 2`, want: "panic: runtime error: invalid memory address or nil pointer dereference"},
		{name: "go stack printed after a message", msg: "  config: key \"db\" missing\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:9 +0x1d\n",
			want: `config: key "db" missing`},
		{name: "go log.Fatal after info lines", msg: `2026/12/07 08:00:00 starting shop 1.4.2
2026/12/07 08:00:00 open /etc/shop/config.yaml: no such file or directory`, want: "open /etc/shop/config.yaml: no such file or directory"},
		{name: "python traceback", msg: `Starting gunicorn 22.0.0
Traceback (most recent call last):
  File "/app/main.py", line 14, in <module>
    raise ConfigError("DATABASE_URL is not set")
  File "/app/config.py", line 3, in load
    return os.environ["DATABASE_URL"]
KeyError: 'DATABASE_URL'`, want: "KeyError: 'DATABASE_URL'"},
		{name: "java cause", msg: `Exception in thread "main" java.lang.IllegalStateException: Failed to load ApplicationContext
	at org.springframework.boot.SpringApplication.run(SpringApplication.java:335)
Caused by: java.net.ConnectException: Connection refused
	at java.base/sun.nio.ch.Net.connect0(Native Method)`, want: "Caused by: java.net.ConnectException: Connection refused"},
		{name: "nginx read-only root", msg: `/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration
/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/
/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh
10-listen-on-ipv6-by-default.sh: info: can not modify /etc/nginx/conf.d/default.conf (read-only file system?)
/docker-entrypoint.sh: Configuration complete; ready for start up
2026/12/07 08:00:00 [emerg] 1#1: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)
nginx: [emerg] mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)`,
			want: `[emerg] 1#1: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)`},
		{name: "fluent-bit", msg: `Fluent Bit v3.1.9
* Copyright (C) 2015-2024 The Fluent Bit Authors
* Fluent Bit is a CNCF sub-project under the umbrella of Fluentd
* https://fluentbit.io

[2026/12/07 08:00:00] [ info] [fluent bit] version=3.1.9, commit=431fa79ae2, pid=1
[2026/12/07 08:00:00] [ info] [storage] ver=1.5.2, type=memory, sync=normal, checksum=off, max_chunks_up=128
[2026/12/07 08:00:00] [error] [input:tail:tail.0] read error, check permissions: /var/log/app/*.log
[2026/12/07 08:00:00] [error] [engine] input initialization failed
[2026/12/07 08:00:00] [error] [lib] backend failed`, want: "[error] [input:tail:tail.0] read error, check permissions: /var/log/app/*.log"},
		{name: "oauth2-proxy lists what is missing under its error", msg: `[2026/12/07 08:00:00] [main.go:59] invalid configuration:
  missing setting: client-secret
  missing setting: cookie-secret`,
			want: "[main.go:59] invalid configuration: missing setting: client-secret; missing setting: cookie-secret"},
		{name: "envoy", msg: `[2026-12-07 08:00:00.000][1][info][main] [source/server/server.cc:430] initializing epoch 0 (base id=0, hot restart version=11.104)
[2026-12-07 08:00:00.001][1][info][main] [source/server/server.cc:432] statically linked extensions:
[2026-12-07 08:00:00.002][1][critical][main] [source/server/server.cc:131] error initializing config '/etc/envoy/envoy.yaml': no such listener
[2026-12-07 08:00:00.002][1][info][main] [source/server/server.cc:1026] exiting
no such listener`, want: "[1][critical][main] [source/server/server.cc:131] error initializing config '/etc/envoy/envoy.yaml': no such listener"},
		// Review 17b: colour hid the error word; CR and OSC reached the
		// deployer's terminal.
		{name: "coloured fluent-bit", msg: "Fluent Bit v3.1.9\n\x1b[1m[2026/12/07 08:00:00]\x1b[0m [\x1b[1;91merror\x1b[0m] [engine] input initialization failed\nbye",
			want: "[error] [engine] input initialization failed"},
		{name: "a carriage return is escaped", msg: "ok\rerror: forged", want: `ok\rerror: forged`},
		{name: "a window title is dropped", msg: "x\x1b]0;title\x07 failed", want: "x failed"},
		{name: "a bare escape and BEL are escaped", msg: "boom \x1b\x07", want: `boom ^[\a`},
		{name: "a long line is cut", msg: "error: " + strings.Repeat("x", 200), want: "error: " + strings.Repeat("x", maxReasonRunes-7) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := terminationMessage(tt.msg)
			if got != tt.want {
				t.Errorf("terminationMessage = %q\nwant %q", got, tt.want)
			}
			// A slim pod keeps only the reason: it must read the same.
			if again := TerminationReason(got); again != got {
				t.Errorf("the reason read again = %q, want %q", again, got)
			}
		})
	}
}

// FuzzTerminationMessage: whatever a container leaves, the reason is one
// line of at most maxReasonRunes runes (and the ellipsis), holds no control
// character (a terminal reads none of it as a command), and is its own
// fixed point, as the logs informer's slim pods need.
func FuzzTerminationMessage(f *testing.F) {
	for _, s := range []string{"", "\n\n", "panic: x\ngoroutine 1 [running]:", "goroutine 1 [", "Traceback (most recent call last)\n  x",
		"error:\n  a\n  b", "\xff\xfe error", "Caused by: ", strings.Repeat("é", 500) + "\nerror:" + strings.Repeat("\n  x", 200),
		"\x1b[31merror\x1b[0m", "a\rerror b", "x\x1b]0;title\x07", "\u009b31m error", "error \u202e gnp.exe", "\x1b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		r := TerminationReason(m)
		if n := utf8.RuneCountInString(r); n > maxReasonRunes+1 {
			t.Fatalf("reason of %d runes", n)
		}
		if i := strings.IndexFunc(r, func(c rune) bool { return unicode.IsControl(c) || unicode.Is(unicode.Bidi_Control, c) }); i >= 0 {
			t.Fatalf("reason %q holds a control character at %d", r, i)
		}
		if again := TerminationReason(r); again != r {
			t.Fatalf("TerminationReason(%q) = %q, not its own fixed point", r, again)
		}
	})
}
