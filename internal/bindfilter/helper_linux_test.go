package bindfilter

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// helperEnv names the environment variable that makes the test binary a
// helper: its value is one operation, run by runHelper in place of the tests.
const helperEnv = "BINDFILTER_TEST_HELPER"

// runHelper runs one operation and prints its result on stdout: an address,
// "ok", or "error ERRNO" (e.g. "error EPERM"). Operations:
//
//	bind NET ADDR           bind ADDR:0, print the bound address
//	connect NET ADDRPORT    connect from an unbound socket, print its local address
//	bindconnect NET SRC ADDRPORT  bind SRC:0, connect, print the local address
//	sendto NET ADDRPORT     send "x" from an unbound UDP socket
//	sendfrom SRC ADDRPORT   send "x" from an unbound UDP socket with IP_PKTINFO source SRC
//	socket KIND             create a socket: tcp4, raw4, ping4, raw6, ping6
//	serve NET ADDR          bind ADDR:0, print "ADDR:PORT", answer one peer with "hello"
//	attach DIR ADDR...      Attach the filter to DIR, then exit without closing it
//
// NET is tcp4, udp4, tcp6 or udp6.
func runHelper(op string) int {
	out, err := helperOp(strings.Fields(op))
	if errors.Is(err, errUsage) {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err != nil {
		var errno unix.Errno
		if !errors.As(err, &errno) {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		out = "error " + unix.ErrnoName(errno)
	}
	fmt.Println(out)
	return 0
}

var errUsage = errors.New("bad helper operation")

func helperOp(args []string) (string, error) {
	if len(args) < 2 || len(args) < 3 && args[0] != "socket" {
		return "", errUsage
	}
	switch args[0] {
	case "bind":
		fd, err := bound(args[1], args[2])
		if err != nil {
			return "", err
		}
		defer unix.Close(fd)
		return localAddr(fd)
	case "connect":
		fd, err := socket(args[1])
		if err != nil {
			return "", err
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, sockaddr(netip.MustParseAddrPort(args[2]))); err != nil {
			return "", err
		}
		return localAddr(fd)
	case "bindconnect":
		if len(args) < 4 {
			return "", errUsage
		}
		fd, err := bound(args[1], args[2])
		if err != nil {
			return "", err
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, sockaddr(netip.MustParseAddrPort(args[3]))); err != nil {
			return "", err
		}
		return localAddr(fd)
	case "sendto":
		fd, err := socket(args[1])
		if err != nil {
			return "", err
		}
		defer unix.Close(fd)
		return "ok", unix.Sendto(fd, []byte("x"), 0, sockaddr(netip.MustParseAddrPort(args[2])))
	case "sendfrom":
		fd, err := socket("udp4")
		if err != nil {
			return "", err
		}
		defer unix.Close(fd)
		oob := unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: netip.MustParseAddr(args[1]).As4()})
		_, err = unix.SendmsgN(fd, []byte("x"), oob, sockaddr(netip.MustParseAddrPort(args[2])), 0)
		return "ok", err
	case "socket":
		kinds := map[string][3]int{
			"tcp4":     {unix.AF_INET, unix.SOCK_STREAM, 0},
			"raw4":     {unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP},
			"ping4":    {unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP},
			"raw6":     {unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6},
			"mptcp4":   {unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP},
			"udplite6": {unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_UDPLITE},
			"ping6":    {unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_ICMPV6},
		}
		k, ok := kinds[args[1]]
		if !ok {
			return "", errUsage
		}
		fd, err := unix.Socket(k[0], k[1]|unix.SOCK_CLOEXEC, k[2])
		if err != nil {
			return "", err
		}
		unix.Close(fd)
		return "ok", nil
	case "serve":
		return serve(args[1], args[2])
	case "attach":
		var addrs []netip.Addr
		for _, a := range args[2:] {
			addrs = append(addrs, netip.MustParseAddr(a))
		}
		_, err := Attach(args[1], addrs)
		return "ok", err
	}
	return "", errUsage
}

func socket(network string) (int, error) {
	family, typ := unix.AF_INET, unix.SOCK_STREAM
	if strings.HasSuffix(network, "6") {
		family = unix.AF_INET6
	}
	if strings.HasPrefix(network, "udp") {
		typ = unix.SOCK_DGRAM
	}
	return unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
}

func bound(network, addr string) (int, error) {
	fd, err := socket(network)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(netip.MustParseAddr(addr), 0))); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// sockaddr converts ap; a v4-mapped address stays IPv6.
func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

func localAddr(fd int) (string, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return "", err
	}
	return addrPort(sa).Addr().String(), nil
}

func serve(network, addr string) (string, error) {
	fd, err := bound(network, addr)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(network, "udp") {
		fmt.Println(addrPort(sa))
		buf := make([]byte, 16)
		_, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return "", err
		}
		return "served", unix.Sendto(fd, []byte("hello"), 0, from)
	}
	if err := unix.Listen(fd, 1); err != nil {
		return "", err
	}
	fmt.Println(addrPort(sa))
	c, _, err := unix.Accept(fd)
	if err != nil {
		return "", err
	}
	defer unix.Close(c)
	_, err = unix.Write(c, []byte("hello"))
	return "served", err
}
