package supervisor

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vservers/vserver/internal/sock"
)

// hostsFile is where the TCP ready probe looks up a host name: the guest's
// own, as vinit sees it. Tests point it elsewhere.
var hostsFile = "/etc/hosts"

// localhost is what "localhost" is when the hosts file does not say.
var localhost = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}

// probeTCP makes one attempt to connect to hostport (ready.tcp), bounded
// by ctx, and closes the connection at once.
//
// There is no DNS resolver in PID 1 (it would bring package net, and a
// probe that waits on a name server): the host is an IP address, or a name
// the hosts file lists, whose addresses are tried in order until one
// accepts. localhost is 127.0.0.1 then ::1 when the file does not list it,
// and an empty host, as net.Dial has it, is the local system.
func probeTCP(ctx context.Context, hostport string) error {
	host, port, err := sock.SplitHostPort(hostport)
	if err != nil {
		return err // units refuses it before it gets here
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	addrs, err := resolve(host)
	if err != nil {
		return err
	}
	var first error
	for i, a := range addrs {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if d, ok := partialDeadline(ctx, len(addrs)-i); ok {
			actx, cancel = context.WithDeadline(ctx, d)
		}
		c, err := sock.DialTCP(actx, netip.AddrPortFrom(a, uint16(p)))
		cancel()
		if err == nil {
			return c.Close()
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return first
}

// partialDeadline is the share of ctx's time one of n addresses left gets,
// as net.Dial shares it: an equal part, but at least 2s if there is that.
func partialDeadline(ctx context.Context, n int) (time.Time, bool) {
	deadline, ok := ctx.Deadline()
	if !ok || n <= 1 {
		return deadline, ok
	}
	now := time.Now()
	left := deadline.Sub(now)
	share := left / time.Duration(n)
	if share < 2*time.Second {
		share = min(2*time.Second, left)
	}
	return now.Add(share), true
}

// resolve is the addresses of host: it, if it is an IP address, or what
// the hosts file says of it.
func resolve(host string) ([]netip.Addr, error) {
	if host == "" {
		return localhost, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := lookupHosts(hostsFile, host)
	if len(addrs) > 0 {
		return addrs, nil
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return localhost, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w; vinit has no DNS resolver: give an IP address, or probe a DNS name with ready.exec", host, err)
	}
	return nil, fmt.Errorf("look up %s: not in %s, and vinit has no DNS resolver: give an IP address or a name %s lists, or probe a DNS name with ready.exec", host, hostsFile, hostsFile)
}

// lookupHosts is the addresses file lists for name, in order, as the C
// library and Go's resolver read hosts(5): "ADDRESS NAME [ALIAS...]" lines,
// # comments, names matched without regard to case or a final dot.
func lookupHosts(file, name string) ([]netip.Addr, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSuffix(name, ".")
	var addrs []netip.Addr
	for line := range strings.SplitSeq(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		a, err := netip.ParseAddr(fields[0])
		if err != nil {
			continue
		}
		for _, n := range fields[1:] {
			if strings.EqualFold(strings.TrimSuffix(n, "."), name) && !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
				break
			}
		}
	}
	return addrs, nil
}
