package vserver

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseFillsDefaults(t *testing.T) {
	cfg, err := Parse("/etc/vhost/vservers/web.yaml", []byte("image: deb\nnetwork:\n  addresses: [10.77.0.9/24]\nlimits:\n  memory: 512M\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "web" || cfg.Hostname != "web" || cfg.StopTimeout != 30*time.Second ||
		cfg.Network.Mode != "isolated" || cfg.Restart != "never" || cfg.Limits.Memory != 512<<20 {
		t.Fatalf("defaults: %+v", cfg)
	}
	s := cfg.spec()
	if s.Cgroup != "vhost/web" || s.Limits.MemoryBytes != 512<<20 || s.Network.Addresses[0].String() != "10.77.0.9/24" {
		t.Fatalf("spec: %+v", s)
	}
}

func TestParseReportsEveryErrorWithItsPosition(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"no image", "hostname: x\nnetwork:\n  mode: none\n", []string{"f.yaml:1:1: image: required"}},
		{"bad size and mode", "image: a\nnetwork:\n  mode: bridge\nlimits:\n  memory: 1X\n", []string{
			"f.yaml:3:9: network.mode: want isolated, shared or none",
			"f.yaml:5:11: limits.memory: want a size like 512M or 2G",
		}},
		{"network address", "image: a\nnetwork:\n  addresses: [10.77.0.0/24, fe80::1]\n", []string{
			"f.yaml:3:15: network.addresses[0]: 10.77.0.0/24 is the network's own address",
			"f.yaml:3:29: network.addresses[1]: want an address with its prefix length",
		}},
		{"ranges", "image: a\nnetwork:\n  mode: none\ncontext: 70000\nrestart: sometimes\nstop_timeout: -1s\nlimits:\n  cpu_weight: 20000\n", []string{
			"f.yaml:4:10: context: want a context id from 1 to 65535",
			"f.yaml:5:10: restart: want never, on-failure or always",
			"f.yaml:6:15: stop_timeout: must be positive",
			"f.yaml:8:15: limits.cpu_weight: want 1 to 10000",
		}},
		{"unknown key", "image: a\nnetwork:\n  mode: none\nautostrat: true\n", []string{"f.yaml:4:1: autostrat: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			got := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("error lacks %q:\n%s", w, got)
				}
			}
			if n := strings.Count(got, "\n") + 1; n != len(tt.want) {
				t.Errorf("%d errors, want %d:\n%s", n, len(tt.want), got)
			}
		})
	}
}

func TestBytes(t *testing.T) {
	for in, want := range map[string]Bytes{"0": 0, "1024": 1024, "4K": 4 << 10, "1m": 1 << 20, "2G": 2 << 30, "1T": 1 << 40} {
		var b Bytes
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("%q: got %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "1.5G", "12Q"} {
		var b Bytes
		if err := b.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q: accepted as %d", in, b)
		}
	}
}

func TestOutcomeOfInitsEnd(t *testing.T) {
	exited := func(code int) syscall.WaitStatus { return syscall.WaitStatus(code << 8) }
	killed := func(sig syscall.Signal) syscall.WaitStatus { return syscall.WaitStatus(sig) }
	tests := []struct {
		ws   syscall.WaitStatus
		want Outcome
	}{
		{killed(syscall.SIGHUP), Reboot},   // reboot(2) RESTART in a PID namespace
		{killed(syscall.SIGINT), Poweroff}, // reboot(2) POWER_OFF or HALT
		{exited(0), Poweroff},
		{exited(RebootExitCode), Reboot}, // vinit without CAP_SYS_BOOT
		{exited(1), Failed},
		{killed(syscall.SIGKILL), Failed},
		{killed(syscall.SIGSEGV), Failed},
	}
	for _, tt := range tests {
		if got := outcome(tt.ws); got != tt.want {
			t.Errorf("%s: got %s, want %s", describe(tt.ws), got, tt.want)
		}
	}
}

func TestUserNamespaceConfig(t *testing.T) {
	tests := []struct {
		yaml       string
		base, size uint32
	}{
		{"context: 42\nuser_namespace: auto\n", 42 << 16, 65536},
		{"user_namespace: {base: 200000}\n", 200000, 65536},
		{"user_namespace:\n  base: 300000\n  size: 1000\n", 300000, 1000},
	}
	for _, tt := range tests {
		cfg, err := Parse("f.yaml", []byte("image: a\nnetwork:\n  mode: none\n"+tt.yaml))
		if err != nil {
			t.Fatalf("%q: %v", tt.yaml, err)
		}
		m := cfg.spec().UserNS
		if m == nil || m.HostBase != tt.base || m.Size != tt.size {
			t.Errorf("%q: map %+v, want base %d size %d", tt.yaml, m, tt.base, tt.size)
		}
	}
	cfg, err := Parse("f.yaml", []byte("image: a\nnetwork:\n  mode: none\n"))
	if err != nil || cfg.spec().UserNS != nil {
		t.Errorf("no user_namespace: %v, %+v", err, cfg)
	}
	if _, err := Parse("f.yaml", []byte("image: a\ncontext: 65535\nnetwork:\n  mode: none\nuser_namespace: auto\n")); err == nil || !strings.Contains(err.Error(), "f.yaml:5:17: user_namespace: auto with context id 65535") {
		t.Errorf("auto at the last context id: %v", err)
	}
}
