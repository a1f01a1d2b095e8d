// Package bindfilter confines the IP addresses a vserver in the "shared"
// network mode may use, the way Linux-VServer's network context did: the
// vserver keeps the host's network stack (no network namespace of its own),
// and cgroup-BPF programs on its cgroup v2 directory decide which local
// addresses its sockets may have.
//
// For every process in the cgroup (and its descendants):
//
//   - bind(2) to one of the allowed addresses goes through; bind to any other
//     address fails with EPERM (IPv4 on BPF_CGROUP_INET4_BIND, IPv6 and
//     v4-mapped IPv6 on BPF_CGROUP_INET6_BIND).
//   - bind to the wildcard becomes a bind to the primary address: 0.0.0.0 to
//     the first allowed IPv4 address, :: to the first allowed IPv6 address, or
//     to ::ffff:<first IPv4> when there is none (so a dual-stack listener on
//     [::] serves the context's IPv4 address), ::ffff:0.0.0.0 to
//     ::ffff:<first IPv4>.
//   - connect(2) from a socket not bound yet binds it to the primary address
//     first, with the bpf_bind helper in BPF_CGROUP_INET4_CONNECT and
//     INET6_CONNECT, so outgoing TCP and connected UDP carry the context's
//     source address; without a primary address of that family the connect
//     fails with EPERM.
//   - an unconnected UDP sendmsg(2) gets the primary address as its source
//     (BPF_CGROUP_UDP4_SENDMSG, UDP6_SENDMSG); a source chosen with
//     IP_PKTINFO / IPV6_PKTINFO must be an allowed address, else EPERM.
//   - socket(2) for AF_INET and AF_INET6 (BPF_CGROUP_INET_SOCK_CREATE) allows
//     only TCP and UDP: raw sockets, ICMP "ping" sockets, SCTP, MPTCP and
//     the rest fail with EPERM, because their bind, connect or send paths
//     bypass the hooks above.
//
// Loopback: the first allowed address in 127.0.0.0/8, when it is not
// 127.0.0.1 itself, is the context's own loopback address, as Linux-VServer's
// "lback": a bind to 127.0.0.1 becomes a bind to it, and a connect(2) to
// 127.0.0.1 goes to it, so the context's clients of "localhost" reach the
// context's own servers and not the host's. Unconnected UDP sends to
// 127.0.0.1 are not redirected: the context's UDP server answering a host
// client at 127.0.0.1 must reach it. Without such an address 127.0.0.1 is an
// address like any other: allowed only when listed.
//
// Not covered: listen(2) or an unconnected UDP send on a socket never bound
// autobinds it to the wildcard with no hook to see it, so such a socket
// receives on every host address at its (ephemeral) port; packets it sends
// still carry the context's address. AF_PACKET sockets are outside the inet
// hooks: the context must not have CAP_NET_RAW, nor CAP_NET_ADMIN, CAP_BPF or
// CAP_SYS_ADMIN, with which it could detach the programs.
//
// The programs are attached with the classic BPF_PROG_ATTACH and
// BPF_F_ALLOW_MULTI, not with a bpf_link: the cgroup itself then holds them,
// so they stay in force after the process that attached them (the vserver's
// monitor) exits or is killed, and the kernel frees them when the cgroup is
// removed. No bpffs pin is needed and none can leak. Each program carries a
// fixed name (vhost_bind4, ...); [Attach] on a cgroup that already has them
// replaces them atomically (BPF_F_REPLACE), [Detach] finds them by name and
// detaches them, [List] reports them.
//
// Use: the host side of a context attaches the filter to the context's
// cgroup v2 directory (cgroup.Group.UnifiedDir: /sys/fs/cgroup/vhost/NAME on
// a v2 host, /sys/fs/cgroup/unified/vhost/NAME on a hybrid one) after creating
// the cgroup and before any process of the context runs in it:
//
//	f, err := bindfilter.Attach(g.UnifiedDir(), addrs)
//	if err != nil {
//		return err // do not start the context unfiltered
//	}
//	f.Close() // the cgroup keeps the programs
//
// Removing the cgroup removes the filter; Detach is for taking it off a
// cgroup that stays.
package bindfilter
