package bindfilter

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf/asm"
)

// Offsets in struct bpf_sock_addr (include/uapi/linux/bpf.h), the context
// of BPF_PROG_TYPE_CGROUP_SOCK_ADDR programs.
const (
	offUserIP4   = 4  // user_ip4: the address passed to bind, connect or sendmsg
	offUserIP6   = 8  // user_ip6[4]
	offMsgSrcIP4 = 40 // msg_src_ip4: the source of an unconnected UDP send
	offMsgSrcIP6 = 44 // msg_src_ip6[4]
)

// Offsets in struct bpf_sock, the context of BPF_CGROUP_INET_SOCK_CREATE.
const (
	offSockType     = 8
	offSockProtocol = 12
)

// Values of socket(2) and of the programs' verdicts.
const (
	sockStream   = 1
	sockDgram    = 2
	protoTCP     = 6
	protoUDP     = 17
	afInet       = 2
	afInet6      = 10
	verdictDeny  = 0 // the syscall fails with EPERM
	verdictAllow = 1
)

// word4 is a's 4 bytes as one 32-bit BPF load of them gives it.
func word4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

// words6 is a's 16 bytes as four 32-bit loads give them.
func words6(a netip.Addr) [4]uint32 {
	b := a.As16()
	var w [4]uint32
	for i := range w {
		w[i] = binary.NativeEndian.Uint32(b[4*i:])
	}
	return w
}

var (
	localhostWord = word4(localhost4)
	// mappedWord is the third word of a v4-mapped IPv6 address, ::ffff:0:0/96.
	mappedWord = words6(netip.MustParseAddr("::ffff:0.0.0.0"))[2]
)

// builder assembles a program whose jumps go to named places. It drops
// code no jump reaches, which the verifier refuses.
type builder struct {
	insns asm.Instructions
	label string // the name of the next instruction emitted
	dead  bool   // the place is unreachable: drop what is emitted
	n     int
}

func (b *builder) emit(ins ...asm.Instruction) {
	if b.dead {
		return
	}
	for _, in := range ins {
		if b.label != "" {
			in = in.WithSymbol(b.label)
			b.label = ""
		}
		b.insns = append(b.insns, in)
	}
}

// mark names the place of the next instruction. A place that no jump
// emitted so far goes to and the code before does not fall into is dead.
func (b *builder) mark(label string) {
	fallsIn := !b.dead && len(b.insns) > 0
	if fallsIn {
		last := b.insns[len(b.insns)-1].OpCode
		fallsIn = last.JumpOp() != asm.Exit && last.JumpOp() != asm.Ja
	}
	jumpedTo := false
	for _, in := range b.insns {
		if in.Reference() == label {
			jumpedTo = true
		}
	}
	b.dead = !fallsIn && !jumpedTo
	if b.dead {
		return
	}
	if b.label != "" {
		// Two names for one place: a no-op carries the first.
		b.emit(asm.Mov.Imm(asm.R0, 0))
	}
	b.label = label
}

// fresh returns a label not used before.
func (b *builder) fresh(prefix string) string {
	b.n++
	return fmt.Sprintf("%s_%d", prefix, b.n)
}

func (b *builder) ret(verdict int32) {
	b.emit(asm.Mov.Imm(asm.R0, verdict), asm.Return())
}

// imm is a 32-bit word as an instruction's immediate.
func imm(w uint32) int32 { return int32(w) }

// store4 writes w into the context at off. Through a register: kernels
// before 6.x refuse BPF_ST (store immediate) into a sock_addr context
// ("BPF_ST stores into R6 ctx is not allowed", Debian 12's 6.1). R0 is free
// here: every path sets it again before it returns.
func (b *builder) store4(off int16, w uint32) {
	b.emit(asm.Mov.Imm32(asm.R0, imm(w)), asm.StoreMem(asm.R6, off, asm.R0, asm.Word))
}

func (b *builder) store6(off int16, w [4]uint32) {
	for i, x := range w {
		b.store4(off+int16(4*i), x)
	}
}

// match4 jumps to allow when reg holds an allowed IPv4 address, and to lo
// when it holds 127.0.0.1 and the context has a loopback address of its own.
func (b *builder) match4(reg asm.Register, p policy, allow, lo string) {
	for _, w := range p.v4 {
		b.emit(asm.JEq.Imm32(reg, imm(w), allow))
	}
	if p.lback4 != 0 {
		b.emit(asm.JEq.Imm32(reg, imm(localhostWord), lo))
	}
}

// load6 loads the IPv6 address at off into R2..R5.
func (b *builder) load6(off int16) {
	for i, r := range []asm.Register{asm.R2, asm.R3, asm.R4, asm.R5} {
		b.emit(asm.LoadMem(r, asm.R6, off+int16(4*i), asm.Word))
	}
}

// jumpUnless6 jumps to label unless R2..R5 hold w.
func (b *builder) jumpUnless6(w [4]uint32, label string) {
	for i, r := range []asm.Register{asm.R2, asm.R3, asm.R4, asm.R5} {
		b.emit(asm.JNE.Imm32(r, imm(w[i]), label))
	}
}

// match6 jumps to allow when R2..R5 hold an allowed IPv6 address.
func (b *builder) match6(p policy, allow string) {
	for _, w := range p.v6 {
		next := b.fresh("next")
		b.jumpUnless6(w, next)
		b.emit(asm.Ja.Label(allow))
		b.mark(next)
	}
}

// mapped6 is ::ffff:<w>.
func mapped6(w uint32) [4]uint32 { return [4]uint32{0, 0, mappedWord, w} }

// bind4: allow the allowed, rewrite 0.0.0.0 to the primary address and
// 127.0.0.1 to the loopback one, deny the rest.
func bind4(p policy) asm.Instructions {
	b := &builder{}
	b.emit(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, offUserIP4, asm.Word),
		asm.JEq.Imm32(asm.R2, 0, "wildcard"),
	)
	b.match4(asm.R2, p, "allow", "lo")
	b.ret(verdictDeny)
	b.mark("wildcard")
	if p.primary4 == 0 {
		b.ret(verdictDeny)
	} else {
		b.store4(offUserIP4, p.primary4)
		b.ret(verdictAllow)
	}
	if p.lback4 != 0 {
		b.mark("lo")
		b.store4(offUserIP4, p.lback4)
		b.ret(verdictAllow)
	}
	b.mark("allow")
	b.ret(verdictAllow)
	return b.insns
}

// jumpUnlessMapped jumps to label unless R2..R4 hold ::ffff:0:0/96.
func (b *builder) jumpUnlessMapped(label string) {
	b.emit(
		asm.JNE.Imm32(asm.R2, 0, label),
		asm.JNE.Imm32(asm.R3, 0, label),
		asm.JNE.Imm32(asm.R4, imm(mappedWord), label),
	)
}

// bind6: as bind4 for IPv6, with v4-mapped addresses judged as IPv4 ones;
// :: becomes the primary IPv6 address, or ::ffff:<primary IPv4>, and
// ::ffff:0.0.0.0 becomes ::ffff:<primary IPv4>.
func bind6(p policy) asm.Instructions {
	b := &builder{}
	b.emit(asm.Mov.Reg(asm.R6, asm.R1))
	b.load6(offUserIP6)
	b.jumpUnless6([4]uint32{}, "specific")
	switch {
	case p.has6:
		b.store6(offUserIP6, p.primary6)
		b.ret(verdictAllow)
	case p.primary4 != 0:
		b.store6(offUserIP6, mapped6(p.primary4))
		b.ret(verdictAllow)
	default:
		b.ret(verdictDeny)
	}
	b.mark("specific")
	b.match6(p, "allow")
	b.jumpUnlessMapped("deny")
	if p.primary4 != 0 {
		b.emit(asm.JEq.Imm32(asm.R5, 0, "mapped_wildcard"))
	}
	b.match4(asm.R5, p, "allow", "lo")
	b.mark("deny")
	b.ret(verdictDeny)
	if p.lback4 != 0 {
		b.mark("lo")
		b.store4(offUserIP6+12, p.lback4)
		b.ret(verdictAllow)
	}
	b.mark("mapped_wildcard") // ::ffff:0.0.0.0, IPv4's wildcard on an IPv6 socket
	b.store4(offUserIP6+12, p.primary4)
	b.ret(verdictAllow)
	b.mark("allow")
	b.ret(verdictAllow)
	return b.insns
}

// redirectLocalhost4 sends a destination of 127.0.0.1 at off to the
// context's loopback address.
func (b *builder) redirectLocalhost4(off int16, p policy) {
	if p.lback4 == 0 {
		return
	}
	done := b.fresh("dest")
	b.emit(
		asm.LoadMem(asm.R2, asm.R6, off, asm.Word),
		asm.JNE.Imm32(asm.R2, imm(localhostWord), done),
	)
	b.store4(off, p.lback4)
	b.mark(done)
}

// callBind binds the socket to the sockaddr of the given words, built on the
// stack, with the bpf_bind helper, and ignores its result: a socket bound
// already (by a bind the bind hook judged) keeps its address and fails it
// with EINVAL.
func (b *builder) callBind(sockaddr []uint32) {
	size := int16(4 * len(sockaddr))
	for i, w := range sockaddr {
		b.emit(asm.StoreImm(asm.R10, -size+int16(4*i), int64(imm(w)), asm.Word))
	}
	b.emit(
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, int32(-size)),
		asm.Mov.Imm(asm.R3, int32(size)),
		asm.FnBind.Call(),
	)
}

// familyWord is the first word of a sockaddr: the family, port 0.
func familyWord(family uint16) uint32 {
	var b [4]byte
	binary.NativeEndian.PutUint16(b[:], family)
	return binary.NativeEndian.Uint32(b[:])
}

// sockaddrIn is a struct sockaddr_in for the address word w, port 0.
func sockaddrIn(w uint32) []uint32 {
	return []uint32{familyWord(afInet), w, 0, 0}
}

// sockaddrIn6 is a struct sockaddr_in6 for the address words w, port 0,
// padded to 32 bytes.
func sockaddrIn6(w [4]uint32) []uint32 {
	return []uint32{familyWord(afInet6), 0, w[0], w[1], w[2], w[3], 0, 0}
}

// connect4: bind an unbound socket to the primary address before it
// connects; redirect 127.0.0.1 to the loopback address.
func connect4(p policy) asm.Instructions {
	b := &builder{}
	b.emit(asm.Mov.Reg(asm.R6, asm.R1))
	b.redirectLocalhost4(offUserIP4, p)
	if p.primary4 == 0 {
		b.ret(verdictDeny)
		return b.insns
	}
	b.callBind(sockaddrIn(p.primary4))
	b.ret(verdictAllow)
	return b.insns
}

// connect6: as connect4; a v4-mapped destination gets ::ffff:<primary IPv4>.
func connect6(p policy) asm.Instructions {
	b := &builder{}
	b.emit(asm.Mov.Reg(asm.R6, asm.R1))
	b.load6(offUserIP6)
	b.jumpUnlessMapped("native")
	b.redirectLocalhost4(offUserIP6+12, p)
	if p.primary4 == 0 {
		b.ret(verdictDeny)
	} else {
		b.callBind(sockaddrIn6(mapped6(p.primary4)))
		b.ret(verdictAllow)
	}
	b.mark("native")
	if !p.has6 {
		b.ret(verdictDeny)
		return b.insns
	}
	b.callBind(sockaddrIn6(p.primary6))
	b.ret(verdictAllow)
	return b.insns
}

// sendmsg4: an unconnected UDP send with no source gets the primary address;
// a chosen source must be allowed (127.0.0.1 becomes the loopback address).
// The destination stays: 127.0.0.1 may be a host client the context's
// server answers, which a redirect would send the answer away from.
func sendmsg4(p policy) asm.Instructions {
	b := &builder{}
	b.emit(
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, offMsgSrcIP4, asm.Word),
		asm.JEq.Imm32(asm.R2, 0, "unset"),
	)
	b.match4(asm.R2, p, "allow", "lo")
	b.ret(verdictDeny)
	b.mark("unset")
	if p.primary4 == 0 {
		b.ret(verdictDeny)
	} else {
		b.store4(offMsgSrcIP4, p.primary4)
		b.ret(verdictAllow)
	}
	if p.lback4 != 0 {
		b.mark("lo")
		b.store4(offMsgSrcIP4, p.lback4)
		b.ret(verdictAllow)
	}
	b.mark("allow")
	b.ret(verdictAllow)
	return b.insns
}

// sendmsg6: as sendmsg4 for IPv6 sources. (A v4-mapped destination is sent
// by the IPv4 path, which runs sendmsg4.)
func sendmsg6(p policy) asm.Instructions {
	b := &builder{}
	b.emit(asm.Mov.Reg(asm.R6, asm.R1))
	b.load6(offMsgSrcIP6)
	b.jumpUnless6([4]uint32{}, "chosen")
	if p.has6 {
		b.store6(offMsgSrcIP6, p.primary6)
		b.ret(verdictAllow)
	} else {
		b.ret(verdictDeny)
	}
	b.mark("chosen")
	b.match6(p, "allow")
	b.ret(verdictDeny)
	b.mark("allow")
	b.ret(verdictAllow)
	return b.insns
}

// sockCreate allows TCP and UDP sockets and denies every other AF_INET and
// AF_INET6 socket (raw, ICMP, SCTP, MPTCP, ...).
func sockCreate() asm.Instructions {
	b := &builder{}
	b.emit(
		asm.LoadMem(asm.R2, asm.R1, offSockType, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, offSockProtocol, asm.Word),
		asm.JNE.Imm32(asm.R2, sockStream, "dgram"),
		asm.JEq.Imm32(asm.R3, protoTCP, "allow"),
		asm.Ja.Label("deny"),
	)
	b.mark("dgram")
	b.emit(
		asm.JNE.Imm32(asm.R2, sockDgram, "deny"),
		asm.JEq.Imm32(asm.R3, protoUDP, "allow"),
	)
	b.mark("deny")
	b.ret(verdictDeny)
	b.mark("allow")
	b.ret(verdictAllow)
	return b.insns
}
