package bindfilter

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// hook is one program and where it goes.
type hook struct {
	name   string
	point  string // the attach type as bpftool names it
	typ    ebpf.ProgramType
	attach ebpf.AttachType
	build  func(policy) asm.Instructions
}

var hooks = []hook{
	{"vhost_sock", "cgroup_inet_sock_create", ebpf.CGroupSock, ebpf.AttachCGroupInetSockCreate, func(policy) asm.Instructions { return sockCreate() }},
	{"vhost_bind4", "cgroup_inet4_bind", ebpf.CGroupSockAddr, ebpf.AttachCGroupInet4Bind, bind4},
	{"vhost_bind6", "cgroup_inet6_bind", ebpf.CGroupSockAddr, ebpf.AttachCGroupInet6Bind, bind6},
	{"vhost_connect4", "cgroup_inet4_connect", ebpf.CGroupSockAddr, ebpf.AttachCGroupInet4Connect, connect4},
	{"vhost_connect6", "cgroup_inet6_connect", ebpf.CGroupSockAddr, ebpf.AttachCGroupInet6Connect, connect6},
	{"vhost_sendmsg4", "cgroup_udp4_sendmsg", ebpf.CGroupSockAddr, ebpf.AttachCGroupUDP4Sendmsg, sendmsg4},
	{"vhost_sendmsg6", "cgroup_udp6_sendmsg", ebpf.CGroupSockAddr, ebpf.AttachCGroupUDP6Sendmsg, sendmsg6},
}

// Filter is the set of programs one Attach loaded. The programs stay
// attached to the cgroup when the Filter is closed and when the process
// exits; Detach, or removing the cgroup, ends them.
type Filter struct {
	progs []*ebpf.Program
}

// Close releases the process's handles on the programs. It does not detach
// them.
func (f *Filter) Close() error {
	var errs []error
	for _, p := range f.progs {
		errs = append(errs, p.Close())
	}
	f.progs = nil
	return errors.Join(errs...)
}

// Attach loads the filter for the allowed addresses and attaches it to the
// cgroup v2 directory cgroupDir, replacing, without a gap, a filter this
// package attached there before (by an earlier monitor of the same vserver).
// The first IPv4 and the first IPv6 address of allowed are the primary
// addresses that wildcard binds and unbound connects get.
//
// On error nothing of this call is left attached, and a filter attached
// before may be gone: the caller must not run the context's processes
// unfiltered and should stop them or Detach and report.
func Attach(cgroupDir string, allowed []netip.Addr) (_ *Filter, err error) {
	p, err := newPolicy(allowed)
	if err != nil {
		return nil, fmt.Errorf("attach bind filter to %s: %w", cgroupDir, err)
	}
	dir, err := openCgroup2(cgroupDir)
	if err != nil {
		return nil, err
	}
	defer dir.Close()

	f := &Filter{}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	// Load every program before attaching any: a verifier failure attaches
	// nothing.
	for _, h := range hooks {
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         h.name,
			Type:         h.typ,
			AttachType:   h.attach,
			Instructions: h.build(p),
			License:      "GPL",
		})
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", h.name, err)
		}
		f.progs = append(f.progs, prog)
	}
	for i, h := range hooks {
		if err := attachOne(dir, h, f.progs[i]); err != nil {
			if derr := detach(dir); derr != nil {
				err = errors.Join(err, derr)
			}
			return nil, fmt.Errorf("attach bind filter to %s: %w", cgroupDir, err)
		}
	}
	return f, nil
}

// attachOne attaches prog at h's hook, in place of the program of h's name
// that is there, if any.
func attachOne(dir *os.File, h hook, prog *ebpf.Program) error {
	old, err := ours(dir, h)
	if err != nil {
		return err
	}
	defer closeAll(old)
	opts := link.RawAttachProgramOptions{
		Target:  int(dir.Fd()),
		Program: prog,
		Attach:  h.attach,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	}
	if len(old) > 0 {
		opts.Anchor = link.ReplaceProgram(old[0])
		old = old[1:]
	}
	if err := link.RawAttachProgram(opts); err != nil {
		return fmt.Errorf("%s: %w", h.name, err)
	}
	for _, o := range old {
		if err := detachOne(dir, h, o); err != nil {
			return err
		}
	}
	return nil
}

func detachOne(dir *os.File, h hook, prog *ebpf.Program) error {
	err := link.RawDetachProgram(link.RawDetachProgramOptions{
		Target:  int(dir.Fd()),
		Program: prog,
		Attach:  h.attach,
	})
	if err != nil {
		return fmt.Errorf("detach %s: %w", h.name, err)
	}
	return nil
}

// ours opens the programs named as h's that are attached at h's hook of
// the cgroup itself (not inherited from a parent).
func ours(dir *os.File, h hook) ([]*ebpf.Program, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(dir.Fd()), Attach: h.attach})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.name, err)
	}
	var progs []*ebpf.Program
	for _, ap := range res.Programs {
		prog, err := ebpf.NewProgramFromID(ap.ID)
		if errors.Is(err, os.ErrNotExist) {
			continue // detached meanwhile
		}
		if err != nil {
			closeAll(progs)
			return nil, fmt.Errorf("%s: program %d: %w", h.name, ap.ID, err)
		}
		info, err := prog.Info()
		if err != nil {
			prog.Close()
			closeAll(progs)
			return nil, fmt.Errorf("%s: program %d: %w", h.name, ap.ID, err)
		}
		if info.Name != h.name {
			prog.Close()
			continue
		}
		progs = append(progs, prog)
	}
	return progs, nil
}

func closeAll(progs []*ebpf.Program) {
	for _, p := range progs {
		p.Close()
	}
}

// Detach detaches this package's programs from the cgroup v2 directory
// cgroupDir. Programs of other names are left alone. A cgroup without them
// is not an error.
func Detach(cgroupDir string) error {
	dir, err := openCgroup2(cgroupDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := detach(dir); err != nil {
		return fmt.Errorf("detach bind filter from %s: %w", cgroupDir, err)
	}
	return nil
}

func detach(dir *os.File) error {
	var errs []error
	for _, h := range hooks {
		progs, err := ours(dir, h)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range progs {
			errs = append(errs, detachOne(dir, h, p))
		}
		closeAll(progs)
	}
	return errors.Join(errs...)
}

// List returns this package's programs attached to the cgroup v2 directory
// cgroupDir itself, in hook order.
func List(cgroupDir string) ([]Program, error) {
	dir, err := openCgroup2(cgroupDir)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	var list []Program
	for _, h := range hooks {
		progs, err := ours(dir, h)
		if err != nil {
			return nil, fmt.Errorf("list bind filter of %s: %w", cgroupDir, err)
		}
		for _, p := range progs {
			info, err := p.Info()
			if err != nil {
				closeAll(progs)
				return nil, fmt.Errorf("list bind filter of %s: %s: %w", cgroupDir, h.name, err)
			}
			id, _ := info.ID()
			list = append(list, Program{Name: h.name, Hook: h.point, ID: uint32(id)})
		}
		closeAll(progs)
	}
	return list, nil
}

// openCgroup2 opens dir, which must be a directory of a cgroup v2 hierarchy.
func openCgroup2(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("statfs cgroup %s: %w", dir, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		f.Close()
		return nil, fmt.Errorf("cgroup %s: not a cgroup v2 directory (the cgroup2 hierarchy is /sys/fs/cgroup or /sys/fs/cgroup/unified)", dir)
	}
	return f, nil
}
