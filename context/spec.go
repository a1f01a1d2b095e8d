package context

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/vservers/vserver/internal/cgroup"
)

// Network modes.
const (
	NetIsolated = "isolated" // own network namespace and a veth pair to the host
	NetNone     = "none"     // own network namespace with loopback only
	// NetShared is Linux-VServer's own model: the host's network stack,
	// with a cgroup-BPF filter that lets the context bind only its own
	// addresses and turns a bind to the wildcard into its address.
	NetShared = "shared"
)

// GuestIf is the name of the guest's end of the veth pair.
const GuestIf = "eth0"

// Spec describes a context to create.
type Spec struct {
	Name     string // names the cgroup and the host's veth
	Hostname string
	Rootfs   string // host path of the guest's root directory
	// Overlay, when set, makes the guest's root a copy-on-write overlay:
	// Lower (the image, never written) under Upper (the vserver's own
	// files), mounted on Rootfs inside the context's mount namespace.
	Overlay *Overlay
	// Mounts are host paths bound into the guest, after the root is in
	// place; targets are resolved inside the guest's root.
	Mounts []Mount
	// UserNS, when set, gives the context a user namespace of its own:
	// guest uid and gid 0 to Size-1 are host ids HostBase to
	// HostBase+Size-1, so guest root is an unprivileged host user. The
	// image (Overlay.Lower, or Rootfs without an overlay) is seen
	// through an idmapped mount, so its files owned by 0 are guest
	// root's without being chowned; what the guest writes (Overlay.Upper)
	// is owned by the mapped host ids.
	UserNS   *IDMap
	Init     string   // host path of the init binary, bind-mounted read-only at InitPath
	InitArgs []string // arguments after InitPath
	Env      []string // init's environment (the setup stage clears the rest)

	Network Network
	Cgroup  string        // cgroup path, e.g. "vhost/NAME"
	Limits  cgroup.Limits // quotas of the cgroup

	// Capabilities is the bounding set the guest keeps, as names like
	// "CAP_CHOWN"; nil means DefaultCapabilities.
	Capabilities []string
	NoNewPrivs   bool
	// Seccomp installs the default seccomp filter (internal/seccomp) on
	// the guest's init, and so on every guest process.
	Seccomp bool

	// The guest init's standard files; nil means /dev/null.
	Stdin, Stdout, Stderr *os.File
}

// Overlay is a copy-on-write root: Upper and Work on one filesystem, Lower
// read-only below them.
type Overlay struct{ Lower, Upper, Work string }

// Mount binds Source, a host path, onto Target, a path in the guest.
type Mount struct {
	Source, Target string
	ReadOnly       bool
	// Idmap, in a context with a user namespace, shows Source's files
	// through the context's map, as the image's are: a file of host uid
	// N is guest uid N's. Without it the guest sees the host's owners as
	// they are, and those outside its map as nobody (65534).
	Idmap bool
}

// IDMap maps guest uids and gids 0..Size-1 to host ids HostBase onward.
type IDMap struct {
	HostBase uint32 `json:"host_base"`
	Size     uint32 `json:"size"`
}

// MaxID is the last valid uid and gid: (uid_t)-1 means "no change" to the
// kernel, and is never an id.
const MaxID = 1<<32 - 2

// Check says what is wrong with the map, if anything.
func (m *IDMap) Check() error {
	switch {
	case m.Size == 0:
		return errors.New("a user namespace of size 0 maps nobody")
	case m.HostBase == 0:
		return errors.New("host uid 0 as guest root is host root: the base must be above 0")
	case uint64(m.HostBase)+uint64(m.Size)-1 > MaxID:
		return fmt.Errorf("host ids %d to %d: past the last id, %d", m.HostBase, uint64(m.HostBase)+uint64(m.Size)-1, uint64(MaxID))
	}
	return nil
}

// Overlaps reports whether two maps share a host id.
func (m *IDMap) Overlaps(o *IDMap) bool {
	return uint64(m.HostBase) < uint64(o.HostBase)+uint64(o.Size) && uint64(o.HostBase) < uint64(m.HostBase)+uint64(m.Size)
}

// InitPath is where the guest sees its init.
const InitPath = "/sbin/vinit"

// Network is how the context reaches the world.
type Network struct {
	Mode string // NetIsolated (default) or NetNone
	// Addresses are the guest's addresses with their prefix length, e.g.
	// 10.77.0.2/24. The host reaches each through a /32 (/128) route on its
	// end of the veth pair.
	Addresses []netip.Prefix
	// Gateway is the host end's address, the guest's default route; zero
	// means the first address of the first IPv4 prefix.
	Gateway netip.Addr
	HostIf  string // the host end's name; empty derives it from Name
	// Bridge, when set, attaches the host end to that existing bridge
	// instead of routing the guest's addresses to it: the guest is then
	// on the bridge's segment, and Gateway (required) is the bridge's
	// address or a router on it.
	Bridge string
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ValidName checks a vserver name: it becomes a path component, a cgroup
// and part of an interface name.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid vserver name %q: want 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter or digit", name)
	}
	return nil
}

// HostIfName is the host end of the veth pair for vserver name: "vh-" and
// the name when that fits the kernel's 15 bytes. A longer name is cut to
// its first 6 bytes and followed by a hash of the whole name, so that
// vservers sharing a long prefix (web-frontend-1, web-frontend-2) get
// different ends: "vh-web-fr-" and 5 hex digits. vserver.CheckConflicts
// refuses the rare two names that hash alike.
func HostIfName(name string) string {
	const max = 15
	if n := "vh-" + name; len(n) <= max {
		return n
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("vh-%s-%05x", name[:6], h.Sum32()&0xfffff)
}

// DefaultCapabilities is the bounding set a guest keeps unless its config
// says otherwise: Docker's default set without CAP_MKNOD (no device nodes
// of the host's disks can be made), plus CAP_SYS_BOOT, which vinit needs to
// report reboot and poweroff to the host (in a PID namespace reboot(2) only
// ends the namespace). Missing, among others: CAP_SYS_ADMIN, CAP_NET_ADMIN,
// CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_TIME, CAP_SYS_PTRACE, CAP_MKNOD.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	"CAP_SYS_BOOT",
}

func (s *Spec) validate() error {
	var errs []error
	if err := ValidName(s.Name); err != nil {
		errs = append(errs, err)
	}
	if fi, err := os.Stat(s.Rootfs); err != nil || !fi.IsDir() {
		errs = append(errs, fmt.Errorf("rootfs %s: not a directory", s.Rootfs))
	}
	if o := s.Overlay; o != nil {
		for _, d := range []string{o.Lower, o.Upper, o.Work} {
			if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
				errs = append(errs, fmt.Errorf("overlay %s: not a directory", d))
			}
			if strings.ContainsAny(d, ",:") { // overlayfs's option separators
				errs = append(errs, fmt.Errorf("overlay %s: a path with ',' or ':' can't be mounted", d))
			}
		}
	}
	if fi, err := os.Stat(s.Init); err != nil || !fi.Mode().IsRegular() {
		errs = append(errs, fmt.Errorf("init %s: not a regular file", s.Init))
	}
	if s.Cgroup == "" {
		errs = append(errs, errors.New("no cgroup path"))
	}
	if s.UserNS != nil {
		if err := s.UserNS.Check(); err != nil {
			errs = append(errs, fmt.Errorf("user namespace: %w", err))
		}
	}
	for _, m := range s.Mounts {
		if m.Idmap && s.UserNS == nil {
			errs = append(errs, fmt.Errorf("mount %s: idmap needs a user namespace", m.Source))
		}
	}
	switch s.Network.Mode {
	case NetIsolated, NetNone, NetShared:
	default:
		errs = append(errs, fmt.Errorf("network mode %q: want %s, %s or %s", s.Network.Mode, NetIsolated, NetShared, NetNone))
	}
	if (s.Network.Mode == NetIsolated || s.Network.Mode == NetShared) && len(s.Network.Addresses) == 0 {
		errs = append(errs, fmt.Errorf("network mode %s needs at least one address", s.Network.Mode))
	}
	for _, c := range s.capabilities() {
		if _, ok := capByName[c]; !ok {
			errs = append(errs, fmt.Errorf("unknown capability %q", c))
		}
	}
	return errors.Join(errs...)
}

// EffectiveCapabilities is the bounding set the context's processes get:
// Capabilities (or the default), less what the network mode forbids.
func (s *Spec) EffectiveCapabilities() []string { return s.capabilities() }

func (s *Spec) capabilities() []string {
	caps := s.Capabilities
	if caps == nil {
		caps = DefaultCapabilities
	}
	if s.Network.Mode == NetShared {
		// On the host's stack a raw or packet socket would see and send
		// past the bind filter.
		caps = slices.DeleteFunc(slices.Clone(caps), func(c string) bool { return c == "CAP_NET_RAW" })
	}
	return caps
}

// gateway is the host end's address for the family of p.
func (n *Network) gateway(v6 bool) (netip.Addr, bool) {
	if n.Gateway.IsValid() && n.Gateway.Is6() == v6 {
		return n.Gateway, true
	}
	for _, p := range n.Addresses {
		if p.Addr().Is6() != v6 {
			continue
		}
		gw := p.Masked().Addr().Next()
		if gw == p.Addr() {
			gw = gw.Next()
		}
		if !p.Contains(gw) {
			return netip.Addr{}, false
		}
		return gw, true
	}
	return netip.Addr{}, false
}

// guestAddrs are the addresses as the setup stage needs them.
func (n *Network) hasFamily(v6 bool) bool {
	return slices.ContainsFunc(n.Addresses, func(p netip.Prefix) bool { return p.Addr().Is6() == v6 })
}
