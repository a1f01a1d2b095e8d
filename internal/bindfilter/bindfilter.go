package bindfilter

import (
	"errors"
	"fmt"
	"net/netip"
)

// MaxAddrs is the most addresses one filter allows. Each costs a few
// instructions in each program.
const MaxAddrs = 256

// Program is one of this package's programs as attached to a cgroup.
type Program struct {
	Name string // the program's name, e.g. "vhost_bind4"
	Hook string // the attach point, e.g. "cgroup_inet4_bind"
	ID   uint32 // the kernel's program ID, as bpftool shows it
}

// ErrUnsupported is returned where the kernel's cgroup-BPF socket hooks do
// not exist (any OS but Linux).
var ErrUnsupported = errors.New("bindfilter: cgroup-BPF socket hooks are not supported on this system")

// policy is the allowed set, reduced to what the programs compare: addresses
// as the 32-bit words a BPF load of the kernel's network-order fields gives.
type policy struct {
	v4       []uint32
	v6       [][4]uint32
	primary4 uint32 // 0: no IPv4 address
	primary6 [4]uint32
	has6     bool
	lback4   uint32 // 0: no loopback address of its own (or it is 127.0.0.1)
}

var localhost4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// newPolicy checks the allowed addresses and picks the primary and loopback
// addresses.
func newPolicy(allowed []netip.Addr) (policy, error) {
	var p policy
	if len(allowed) == 0 {
		return p, errors.New("no allowed address")
	}
	if len(allowed) > MaxAddrs {
		return p, fmt.Errorf("%d allowed addresses, at most %d", len(allowed), MaxAddrs)
	}
	seen := make(map[netip.Addr]bool)
	for _, a := range allowed {
		switch {
		case !a.IsValid():
			return p, errors.New("invalid allowed address")
		case a.Zone() != "":
			return p, fmt.Errorf("allowed address %s: a zone is not allowed", a)
		}
		a = a.Unmap()
		switch {
		case a.IsUnspecified():
			return p, fmt.Errorf("allowed address %s: the wildcard is not an address", a)
		case a.IsMulticast():
			return p, fmt.Errorf("allowed address %s: multicast", a)
		}
		if seen[a] {
			continue
		}
		seen[a] = true
		if a.Is4() {
			w := word4(a)
			if len(p.v4) == 0 {
				p.primary4 = w
			}
			if p.lback4 == 0 && a.IsLoopback() && a != localhost4 {
				p.lback4 = w
			}
			p.v4 = append(p.v4, w)
			continue
		}
		w := words6(a)
		if !p.has6 {
			p.primary6, p.has6 = w, true
		}
		p.v6 = append(p.v6, w)
	}
	if seen[localhost4] {
		p.lback4 = 0 // 127.0.0.1 is the context's own: nothing to redirect
	}
	return p, nil
}
