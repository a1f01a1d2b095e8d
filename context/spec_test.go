package context

import "testing"

func TestHostIfName(t *testing.T) {
	for name, want := range map[string]string{
		"demo":         "vh-demo",
		"twelve-bytes": "vh-twelve-bytes", // 15 bytes: as it is
	} {
		if got := HostIfName(name); got != want {
			t.Errorf("HostIfName(%q) = %q, want %q", name, got, want)
		}
	}
	seen := map[string]string{}
	for _, name := range []string{"web-frontend-1", "web-frontend-2", "web-frontend-10", "thirteen-byte", "a-name-of-thirty-two-bytes-long1"} {
		got := HostIfName(name)
		if len(got) > 15 {
			t.Errorf("HostIfName(%q) = %q: longer than the kernel's 15 bytes", name, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("HostIfName(%q) = HostIfName(%q) = %q", name, other, got)
		}
		seen[got] = name
	}
}
