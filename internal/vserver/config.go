package vserver

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/cgroup"
	"github.com/vservers/vserver/internal/strictyaml"
	"github.com/vservers/vserver/units"
)

// Config is a vserver's config file, NAME.yaml.
type Config struct {
	Name     string `yaml:"-"` // the file's base name
	File     string `yaml:"-"`
	Image    string
	Hostname string
	// Context is the context id (Linux-VServer's xid): a number, unique
	// among the host's vservers, that names the context in listings and
	// logs; 0 means none.
	Context int
	Network NetworkConfig
	Limits  LimitsConfig
	// StopTimeout is how long stop waits for the guest to power off after
	// SIGTERM before it kills every process of the context.
	StopTimeout time.Duration `yaml:"stop_timeout"`
	// StopSignal is what stop sends to the guest's init: TERM (default;
	// vinit powers off), or RTMIN+4 for a systemd guest.
	StopSignal string `yaml:"stop_signal"`
	stopSignal unix.Signal
	// Mounts are host directories or files bound into the guest.
	Mounts       []MountConfig
	Capabilities []string
	NoNewPrivs   bool `yaml:"no_new_privs"`
	// Seccomp is the guest's seccomp filter: default, or none.
	Seccomp string
	// UserNS gives the guest a user namespace of its own, so that guest
	// root is an unprivileged host user; nil runs it in the host's.
	UserNS *UserNSConfig `yaml:"user_namespace"`

	// Autostart boots the vserver with the host (vhost daemon), by
	// BootOrder: lower first; vservers of one order start together, and
	// the next order waits until they are up.
	Autostart bool
	BootOrder int `yaml:"boot_order"`
	// Restart says whether vhost daemon boots the vserver again when its
	// guest ends without being asked to: never (default), on-failure
	// (the guest failed, rather than powered off), always.
	Restart string

	doc *strictyaml.Doc // for errors found after parsing, with positions
}

// Errorf is an error about field of the config file, at its position.
func (c *Config) Errorf(field, format string, args ...any) error {
	if c.doc == nil {
		return fmt.Errorf("%s: %s: %s", c.File, field, fmt.Sprintf(format, args...))
	}
	return c.doc.Errorf(field, format, args...)
}

// NetworkConfig is the network section.
type NetworkConfig struct {
	Mode      string
	Addresses []string // CIDR, e.g. 10.77.0.2/24
	Gateway   string   // the host end's address; default: the prefix's first
	Bridge    string   // attach the host end to this existing bridge
}

// MountConfig binds a host path into the guest.
type MountConfig struct {
	Source   string // absolute host path
	Target   string // absolute path in the guest, resolved inside the image
	ReadOnly bool   `yaml:"read_only"`
	// Idmap, with a user namespace, shows the source's files through its
	// map as the image's are: host uid N is guest uid N.
	Idmap bool
}

// UserNSConfig is the user_namespace setting: `auto`, or a mapping with
// the host uid and gid of guest root and the number of ids mapped.
type UserNSConfig struct {
	Auto bool  `yaml:"-"`
	Base int64 // host uid and gid of guest uid and gid 0
	Size int64 // ids mapped: guest 0 to Size-1
}

// AutoUserNSSize is the size of an auto range, and the default size.
const AutoUserNSSize = 65536

// UnmarshalYAML reads `auto` or {base: N, size: M}.
func (u *UserNSConfig) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != "auto" {
			return fmt.Errorf("want auto or a mapping with base (and size), got %q", n.Value)
		}
		u.Auto = true
		return nil
	case yaml.MappingNode:
		var v struct{ Base, Size *int64 }
		if err := strictyaml.DecodeNode(n, &v); err != nil {
			return err
		}
		if v.Base == nil {
			return strictyaml.ErrorAt(n, "base", "required: the host uid of guest root")
		}
		u.Base, u.Size = *v.Base, AutoUserNSSize
		if v.Size != nil {
			u.Size = *v.Size
		}
		return nil
	}
	return fmt.Errorf("want auto or a mapping with base (and size), got %s", strictyaml.Describe(n))
}

// IDMap is the config's map; nil without a user namespace.
func (c *Config) IDMap() *vctx.IDMap {
	if c.UserNS == nil {
		return nil
	}
	return &vctx.IDMap{HostBase: uint32(c.UserNS.Base), Size: uint32(c.UserNS.Size)}
}

// LimitsConfig is the limits section.
type LimitsConfig struct {
	Pids      int64
	Memory    Bytes
	Swap      Bytes
	CPUWeight uint64  `yaml:"cpu_weight"`
	CPUQuota  float64 `yaml:"cpu_quota"`
	IOWeight  uint64  `yaml:"io_weight"`
	// Disk bounds what the vserver writes over its image, with a project
	// quota whose id is the context id.
	Disk Bytes
}

// Bytes is a size: a number of bytes, or one with a K, M, G or T suffix
// (powers of 1024).
type Bytes int64

// UnmarshalText parses a size.
func (b *Bytes) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	if n := len(s); n > 0 {
		if i := strings.IndexByte("KMGT", strings.ToUpper(s[n-1:])[0]); i >= 0 {
			mult = 1 << (10 * (i + 1))
			s = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("want a size like 512M or 2G, got %q", text)
	}
	*b = Bytes(v * mult)
	return nil
}

// Load reads and checks the config of vserver name under paths. Its error
// names the file, line, column and field of every problem.
func Load(p Paths, name string) (*Config, error) {
	if err := vctx.ValidName(name); err != nil {
		return nil, err
	}
	file := p.Config(name)
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("vserver %s: no config file %s", name, file)
		}
		return nil, err
	}
	return Parse(file, data)
}

// Parse reads a config file's contents; file names it in errors and its base
// name is the vserver's name.
func Parse(file string, data []byte) (*Config, error) {
	cfg := &Config{
		Name:        strings.TrimSuffix(filepath.Base(file), ".yaml"),
		File:        file,
		StopTimeout: 30 * time.Second,
		Network:     NetworkConfig{Mode: vctx.NetIsolated},
	}
	doc, err := strictyaml.Parse(file, data)
	if err != nil {
		return nil, err
	}
	cfg.doc = doc
	var errs strictyaml.Errors
	errs.Append(doc.Decode(cfg))
	if cfg.Hostname == "" {
		cfg.Hostname = cfg.Name
	}
	if cfg.Image == "" {
		errs.Append(doc.Errorf("image", "required: the name of an image in the store"))
	}
	switch cfg.Network.Mode {
	case vctx.NetIsolated:
		if len(cfg.Network.Addresses) == 0 {
			errs.Append(doc.Errorf("network.addresses", "isolated mode needs at least one address"))
		}
		if cfg.Network.Bridge != "" && cfg.Network.Gateway == "" {
			errs.Append(doc.Errorf("network.bridge", "a bridged vserver needs network.gateway: the bridge's address or a router on it"))
		}
	case vctx.NetShared:
		if len(cfg.Network.Addresses) == 0 {
			errs.Append(doc.Errorf("network.addresses", "shared mode needs at least one address (the host's) the context may use"))
		}
		if cfg.Network.Gateway != "" {
			errs.Append(doc.Errorf("network.gateway", "shared mode uses the host's routes: no gateway"))
		}
	case vctx.NetNone:
		if len(cfg.Network.Addresses) > 0 {
			errs.Append(doc.Errorf("network.addresses", "mode none has no addresses"))
		}
	default:
		errs.Append(doc.Errorf("network.mode", "want isolated, shared or none, got %q", cfg.Network.Mode))
	}
	if cfg.Network.Bridge != "" && cfg.Network.Mode != vctx.NetIsolated {
		errs.Append(doc.Errorf("network.bridge", "only an isolated vserver has a veth to attach"))
	}
	for i, a := range cfg.Network.Addresses {
		p, err := netip.ParsePrefix(a)
		if err != nil || p.Addr() != p.Addr().Unmap() {
			errs.Append(doc.Errorf(fmt.Sprintf("network.addresses[%d]", i), "want an address with its prefix length, like 10.77.0.2/24, got %q", a))
		} else if p.Masked().Addr() == p.Addr() && p.Bits() < p.Addr().BitLen() {
			errs.Append(doc.Errorf(fmt.Sprintf("network.addresses[%d]", i), "%s is the network's own address, not a host's", a))
		}
	}
	if g := cfg.Network.Gateway; g != "" {
		if _, err := netip.ParseAddr(g); err != nil {
			errs.Append(doc.Errorf("network.gateway", "want an IP address, got %q", g))
		}
	}
	switch cfg.Restart {
	case "":
		cfg.Restart = "never"
	case "never", "on-failure", "always":
	default:
		errs.Append(doc.Errorf("restart", "want never, on-failure or always, got %q", cfg.Restart))
	}
	switch cfg.Seccomp {
	case "":
		cfg.Seccomp = "default"
	case "default", "none":
	default:
		errs.Append(doc.Errorf("seccomp", "want default or none, got %q", cfg.Seccomp))
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = "TERM"
	}
	if sig, err := units.ParseSignal(cfg.StopSignal); err != nil {
		errs.Append(doc.Errorf("stop_signal", "%v", err))
	} else {
		cfg.stopSignal = sig
	}
	for i, m := range cfg.Mounts {
		f := fmt.Sprintf("mounts[%d]", i)
		if !filepath.IsAbs(m.Source) {
			errs.Append(doc.Errorf(f+".source", "want an absolute host path, got %q", m.Source))
		} else if _, err := os.Stat(m.Source); err != nil {
			errs.Append(doc.Errorf(f+".source", "%v", err))
		}
		if !filepath.IsAbs(m.Target) || filepath.Clean(m.Target) == "/" {
			errs.Append(doc.Errorf(f+".target", "want an absolute path in the guest other than /, got %q", m.Target))
		}
	}
	if u := cfg.UserNS; u != nil {
		switch {
		case u.Auto && cfg.Context == 0:
			errs.Append(doc.Errorf("user_namespace", "auto derives the range from the context id: set context: N"))
		case u.Auto && cfg.Context >= 65535:
			errs.Append(doc.Errorf("user_namespace", "auto with context id %d would map uid %d, which is no uid: set base and size", cfg.Context, 1<<32-1))
		case u.Auto:
			// The context id in the high 16 bits of every host id of the
			// guest's, as Linux-VServer tagged files by xid.
			u.Base, u.Size = int64(cfg.Context)<<16, AutoUserNSSize
		case u.Base <= 0 || u.Base > vctx.MaxID:
			errs.Append(doc.Errorf("user_namespace.base", "want a host uid from 1 to %d, got %d (0 would make guest root host root)", vctx.MaxID, u.Base))
		case u.Size <= 0 || u.Base+u.Size-1 > vctx.MaxID:
			errs.Append(doc.Errorf("user_namespace.size", "want 1 to %d ids from base %d, got %d", vctx.MaxID-u.Base+1, u.Base, u.Size))
		}
	}
	for i, m := range cfg.Mounts {
		if m.Idmap && cfg.UserNS == nil {
			errs.Append(doc.Errorf(fmt.Sprintf("mounts[%d].idmap", i), "needs a user namespace (user_namespace:) to map through"))
		}
	}
	if cfg.Limits.Disk > 0 && cfg.Context == 0 {
		errs.Append(doc.Errorf("limits.disk", "a disk limit needs a context id (context: N), the project id of its quota"))
	}
	if w := cfg.Limits.IOWeight; w != 0 && (w < 1 || w > 10000) {
		errs.Append(doc.Errorf("limits.io_weight", "want 1 to 10000, got %d", w))
	}
	if cfg.Context < 0 || cfg.Context > 65535 {
		errs.Append(doc.Errorf("context", "want a context id from 1 to 65535, got %d", cfg.Context))
	}
	if cfg.StopTimeout <= 0 {
		errs.Append(doc.Errorf("stop_timeout", "must be positive"))
	}
	if w := cfg.Limits.CPUWeight; w != 0 && (w < 1 || w > 10000) {
		errs.Append(doc.Errorf("limits.cpu_weight", "want 1 to 10000, got %d", w))
	}
	if cfg.Limits.CPUQuota < 0 || cfg.Limits.Pids < 0 {
		errs.Append(doc.Errorf("limits", "limits can't be negative"))
	}
	if err := vctx.ValidName(cfg.Name); err != nil {
		errs.Append(&strictyaml.Error{File: file, Msg: err.Error()})
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// spec turns the config into a context spec, less the paths the caller
// resolves (rootfs, init).
func (c *Config) spec() *vctx.Spec {
	s := &vctx.Spec{
		Name:     c.Name,
		Hostname: c.Hostname,
		Cgroup:   "vhost/" + c.Name,
		Limits: cgroup.Limits{
			Pids: c.Limits.Pids, MemoryBytes: int64(c.Limits.Memory), SwapBytes: int64(c.Limits.Swap),
			CPUWeight: c.Limits.CPUWeight, CPUQuota: c.Limits.CPUQuota, IOWeight: c.Limits.IOWeight,
		},
		Capabilities: c.Capabilities,
		NoNewPrivs:   c.NoNewPrivs,
		Seccomp:      c.Seccomp == "default",
		Network:      vctx.Network{Mode: c.Network.Mode},
		UserNS:       c.IDMap(),
	}
	for _, a := range c.Network.Addresses {
		s.Network.Addresses = append(s.Network.Addresses, netip.MustParsePrefix(a))
	}
	if c.Network.Gateway != "" {
		s.Network.Gateway = netip.MustParseAddr(c.Network.Gateway)
	}
	s.Network.Bridge = c.Network.Bridge
	for _, m := range c.Mounts {
		s.Mounts = append(s.Mounts, vctx.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Idmap: m.Idmap})
	}
	return s
}

// CheckConflicts refuses a config that claims what another vserver's config
// already has: a guest address, the context id, host ids of its user
// namespace, or (for two isolated vservers whose long names hash alike) the
// host end of the veth pair. The error points at both. A user namespace
// range is also checked against the host's users, groups and other users'
// subordinate ids (checkHostIDs).
func CheckConflicts(p Paths, cfg *Config) error {
	ents, err := os.ReadDir(p.ConfigDir())
	if err != nil {
		return nil
	}
	var errs strictyaml.Errors
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || name == cfg.Name {
			continue
		}
		other, err := Load(p, name)
		if err != nil {
			continue // a broken config claims nothing; it can't start
		}
		if cfg.Network.Mode == vctx.NetIsolated && other.Network.Mode == vctx.NetIsolated &&
			vctx.HostIfName(cfg.Name) == vctx.HostIfName(name) {
			errs.Append(&strictyaml.Error{File: cfg.File, Msg: fmt.Sprintf(
				"vservers %s and %s would both have the host interface %s: rename one", cfg.Name, name, vctx.HostIfName(name))})
		}
		if cfg.Context != 0 && other.Context == cfg.Context {
			errs.Append(cfg.doc.Errorf("context", "context id %d is vserver %s's too (%s)", cfg.Context, name, other.position("context")))
		}
		if m, o := cfg.IDMap(), other.IDMap(); m != nil && o != nil && m.Overlaps(o) {
			errs.Append(cfg.doc.Errorf("user_namespace", "host ids %d to %d overlap vserver %s's, %d to %d (%s)",
				m.HostBase, uint64(m.HostBase)+uint64(m.Size)-1, name, o.HostBase, uint64(o.HostBase)+uint64(o.Size)-1, other.position("user_namespace")))
		}
		for i, a := range cfg.Network.Addresses {
			ip := netip.MustParsePrefix(a).Addr()
			for j, b := range other.Network.Addresses {
				if netip.MustParsePrefix(b).Addr() == ip {
					errs.Append(cfg.doc.Errorf(fmt.Sprintf("network.addresses[%d]", i), "%s is vserver %s's address too (%s)",
						ip, name, other.position(fmt.Sprintf("network.addresses[%d]", j))))
				}
			}
		}
	}
	errs.Append(checkHostIDs(p, cfg))
	return errs.Err()
}

// position is file:line:col of field in the config file.
func (c *Config) position(field string) string {
	if n := c.doc.Node(field); n != nil {
		return fmt.Sprintf("%s:%d:%d", c.File, n.Line, n.Column)
	}
	return c.File
}
