package bindfilter

import (
	"net/netip"
	"strings"
	"testing"
)

func addrs(s ...string) []netip.Addr {
	var a []netip.Addr
	for _, x := range s {
		a = append(a, netip.MustParseAddr(x))
	}
	return a
}

func TestNewPolicy(t *testing.T) {
	tests := []struct {
		name     string
		allowed  []netip.Addr
		primary4 string // "" for none
		primary6 string
		lback4   string
		n4, n6   int
	}{
		{"one address", addrs("10.0.0.2"), "10.0.0.2", "", "", 1, 0},
		{"first of each family is primary", addrs("2001:db8::2", "10.0.0.2", "10.0.0.3", "2001:db8::3"), "10.0.0.2", "2001:db8::2", "", 2, 2},
		{"own loopback", addrs("10.0.0.2", "127.0.0.2", "127.0.0.3"), "10.0.0.2", "", "127.0.0.2", 3, 0},
		{"127.0.0.1 allowed: nothing to redirect", addrs("127.0.0.2", "127.0.0.1"), "127.0.0.2", "", "", 2, 0},
		{"v4-mapped counts as IPv4", addrs("::ffff:10.0.0.2"), "10.0.0.2", "", "", 1, 0},
		{"duplicates once", addrs("10.0.0.2", "10.0.0.2"), "10.0.0.2", "", "", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newPolicy(tt.allowed)
			if err != nil {
				t.Fatalf("newPolicy(%v): %v", tt.allowed, err)
			}
			word := func(s string) uint32 {
				if s == "" {
					return 0
				}
				return word4(netip.MustParseAddr(s))
			}
			if got, want := p.primary4, word(tt.primary4); got != want {
				t.Errorf("primary4: got %#x, want %#x (%s)", got, want, tt.primary4)
			}
			if got, want := p.lback4, word(tt.lback4); got != want {
				t.Errorf("lback4: got %#x, want %#x (%s)", got, want, tt.lback4)
			}
			if tt.primary6 == "" {
				if p.has6 {
					t.Errorf("has6: got true, want false")
				}
			} else if got, want := p.primary6, words6(netip.MustParseAddr(tt.primary6)); got != want {
				t.Errorf("primary6: got %#x, want %#x (%s)", got, want, tt.primary6)
			}
			if len(p.v4) != tt.n4 || len(p.v6) != tt.n6 {
				t.Errorf("got %d IPv4 and %d IPv6 addresses, want %d and %d", len(p.v4), len(p.v6), tt.n4, tt.n6)
			}
		})
	}
}

func TestNewPolicyErrors(t *testing.T) {
	tests := []struct {
		name    string
		allowed []netip.Addr
		want    string
	}{
		{"none", nil, "no allowed address"},
		{"invalid", []netip.Addr{{}}, "invalid"},
		{"wildcard", addrs("0.0.0.0"), "wildcard"},
		{"ipv6 wildcard", addrs("::"), "wildcard"},
		{"multicast", addrs("224.0.0.1"), "multicast"},
		{"zone", addrs("fe80::1%eth0"), "zone"},
		{"too many", make([]netip.Addr, MaxAddrs+1), "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newPolicy(tt.allowed)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newPolicy(%v): got error %v, want one containing %q", tt.allowed, err, tt.want)
			}
		})
	}
}
