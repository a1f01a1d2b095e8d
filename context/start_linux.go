package context

import (
	"bytes"
	stdctx "context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/bindfilter"
	"github.com/vservers/vserver/internal/cgroup"
	"github.com/vservers/vserver/internal/systemd"
)

// Undo is what Cleanup needs to remove a context's traces from the host. Start
// hands the caller a new Undo before every step that would leave something
// behind, so the record always covers what exists.
type Undo struct {
	Cgroup    string `json:"cgroup,omitempty"`     // cgroup path
	HostIf    string `json:"host_if,omitempty"`    // host end of the veth pair
	Pid       int    `json:"pid,omitempty"`        // host PID of the context's init
	StartTime uint64 `json:"start_time,omitempty"` // its start time, to tell it from a recycled PID
}

// Context is a running context.
type Context struct {
	Name string
	Pid  int // host PID of init
	Undo Undo
	proc *os.Process
}

// exe is the binary re-executed as the setup stage; tests may replace it.
var exe = "/proc/self/exe"

// ErrNotRunning says that the context an Undo records has no init.
var ErrNotRunning = errors.New("context is not running")

// Start creates the context described by spec and execs init in it. save is
// called with the undo record before each step that creates something on the
// host; when it fails, Start undoes what it made and fails. When Start fails
// nothing of the context is left.
func Start(spec *Spec, save func(Undo) error) (_ *Context, err error) {
	if spec.Network.Mode == "" {
		spec.Network.Mode = NetIsolated
	}
	if err := spec.validate(); err != nil {
		return nil, err
	}
	cfg := &setupConfig{
		Rootfs:       spec.Rootfs,
		Overlay:      spec.Overlay,
		UserNS:       spec.UserNS,
		Cgroup2:      cgroup.Cgroup2Dir() != "",
		Mounts:       spec.Mounts,
		Hostname:     spec.Hostname,
		Init:         spec.Init,
		InitArgs:     spec.InitArgs,
		Env:          spec.Env,
		Isolated:     spec.Network.Mode == NetIsolated,
		Shared:       spec.Network.Mode == NetShared,
		Addresses:    spec.Network.Addresses,
		Capabilities: spec.capabilities(),
		NoNewPrivs:   spec.NoNewPrivs,
		Seccomp:      spec.Seccomp,
	}
	if cfg.Hostname == "" {
		cfg.Hostname = spec.Name
	}
	if cfg.Isolated {
		gw4, ok4 := spec.Network.gateway(false)
		gw6, ok6 := spec.Network.gateway(true)
		if spec.Network.hasFamily(false) && !ok4 || spec.Network.hasFamily(true) && !ok6 {
			return nil, errors.New("network: no room for the host's address in the guest's prefix; set a gateway")
		}
		cfg.Gateway4, cfg.Gateway6 = gw4, gw6
	}

	// On a host run by systemd with cgroup v2, the context's cgroup is a
	// delegated scope systemd makes (it owns that tree); elsewhere we make
	// it in the cgroup filesystem.
	scope := systemd.Booted() && cgroup.Unified()
	undo := Undo{Cgroup: spec.Cgroup}
	if scope {
		undo.Cgroup = path.Join(systemd.DefaultSlice, systemd.ScopeUnit(spec.Name))
	}
	c := &Context{Name: spec.Name}
	var cmd *exec.Cmd
	defer func() {
		if err != nil {
			Cleanup(undo)
			if c.proc != nil { // ours to reap, whether Cleanup knew its PID or not
				c.proc.Kill()
				cmd.Wait()
			}
		}
	}()
	if err := save(undo); err != nil {
		return nil, err
	}
	var cg *cgroup.Group
	if !scope {
		if cg, err = cgroup.Create(spec.Cgroup, spec.Limits); err != nil {
			return nil, err
		}
	}

	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer errR.Close()
	defer errW.Close()

	cmd = &exec.Cmd{
		Path:       exe,
		Args:       []string{"vhost-setup", setupArg},
		Stdin:      orDevNull(spec.Stdin),
		Stdout:     orDevNull(spec.Stdout),
		Stderr:     orDevNull(spec.Stderr),
		ExtraFiles: []*os.File{cfgR, errW},
		Env:        []string{},
		// Where hostMounts's pivot finds it: its working directory then
		// follows into the guest's root.
		Dir: "/",
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: cloneFlags(spec.Network.Mode),
			// Its own session: a terminal's Ctrl-C reaches the host side,
			// which stops the guest in order, not the guest's init.
			Setsid: true,
		},
	}
	if m := spec.UserNS; m != nil {
		// Created with the other namespaces, so it owns them all; os/exec
		// writes the maps from here before the stage runs, and the stage
		// becomes guest root (host uid HostBase) before it execs.
		// setgroups stays allowed: guest root may set its services'
		// groups, and no group of the host is in the map to drop.
		ids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.HostBase), Size: int(m.Size)}}
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings, cmd.SysProcAttr.GidMappings = ids, ids
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	// The stage is born in the cgroup: in its cgroup2 directory by
	// CLONE_INTO_CGROUP, and in the v1 hierarchies of a v1 or hybrid host
	// by being forked from a thread that has moved there first (moving the
	// stage afterwards would wait for an RCU grace period: see
	// cgroup.EnterThread). A systemd scope is made around the stage below,
	// before it runs anything.
	if cg != nil && cg.UnifiedDir() != "" {
		fd, err := unix.Open(cg.UnifiedDir(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup %s: %w", cg.UnifiedDir(), err)
		}
		defer unix.Close(fd)
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		leave := func() error { return nil }
		if cg != nil {
			var err error
			if leave, err = cg.EnterThread(); err != nil {
				started <- err
				return // still locked: the runtime ends the thread
			}
		}
		err := cmd.Start()
		if leave() == nil {
			runtime.UnlockOSThread()
		} // else still locked, as above
		started <- err
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start setup stage: %w", err)
	}
	c.proc = cmd.Process
	c.Pid = cmd.Process.Pid
	cfgR.Close()
	errW.Close()
	st, err := ProcStartTime(c.Pid)
	if err != nil {
		return nil, err
	}
	undo.Pid, undo.StartTime = c.Pid, st
	if err := save(undo); err != nil {
		return nil, err
	}
	if spec.UserNS != nil {
		// The stage makes its /proc and /sys while it still sees the
		// host's, which the host mounts take away.
		var ready [1]byte
		if n, _ := errR.Read(ready[:]); n != 1 || ready[0] != stageReady {
			return nil, stageFailed(spec.Name, append(ready[:n], readAll(errR)...))
		}
		// Before the veth: a filesystem that can't be idmapped refuses
		// the start with the least made.
		if err := hostMountsInUserNS(c.Pid, cfg); err != nil {
			return nil, fmt.Errorf("context %s: root filesystem: %w", spec.Name, err)
		}
	}
	// The stage waits for its config, so it runs nothing before this.
	if scope {
		ctx, cancel := stdctx.WithTimeout(stdctx.Background(), 30*time.Second)
		dir, err := systemd.StartScope(ctx, spec.Name, c.Pid, scopeProps(spec.Limits))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("context %s: systemd scope: %w", spec.Name, err)
		}
		if rel, ok := strings.CutPrefix(dir, cgroup.Root+"/"); ok && rel != undo.Cgroup {
			undo.Cgroup = rel
			if err := save(undo); err != nil {
				return nil, err
			}
		}
	}
	if m := spec.UserNS; m != nil {
		// Delegated to guest root, as cgroups(7) describes: vinit makes a
		// cgroup per service below it and moves processes among them.
		g, err := cgroup.Open(undo.Cgroup)
		if err == nil {
			err = g.Delegate(int(m.HostBase), int(m.HostBase))
		}
		if err != nil {
			return nil, fmt.Errorf("context %s: delegate the cgroup to guest root: %w", spec.Name, err)
		}
	}
	if spec.Network.Mode == NetShared {
		// Before the stage runs anything: the filter holds from the
		// first guest instruction, and stays with the cgroup.
		if err := attachBindFilter(undo.Cgroup, spec.Network.Addresses); err != nil {
			return nil, fmt.Errorf("context %s: network: %w", spec.Name, err)
		}
	}
	if cfg.Isolated {
		undo.HostIf = spec.Network.HostIf
		if undo.HostIf == "" {
			undo.HostIf = HostIfName(spec.Name)
		}
		if err := save(undo); err != nil {
			return nil, err
		}
		if err := addVeth(undo.HostIf, c.Pid, &spec.Network, cfg); err != nil {
			return nil, err
		}
	}
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		return nil, fmt.Errorf("hand the config to the setup stage: %w", err)
	}
	cfgW.Close()
	// The stage closes the error pipe by exec'ing init, or reports why not.
	if msg := bytes.TrimPrefix(readAll(errR), []byte{stageReady}); len(msg) > 0 {
		return nil, stageFailed(spec.Name, msg)
	}
	c.Undo = undo
	return c, nil
}

func readAll(r io.Reader) []byte {
	b, _ := io.ReadAll(r)
	return b
}

// stageFailed is the error the setup stage reported in msg.
func stageFailed(name string, msg []byte) error {
	if len(msg) == 0 {
		return fmt.Errorf("context %s: the setup stage ended without a word", name)
	}
	var se setupError
	if json.Unmarshal(msg, &se) != nil {
		se = setupError{Step: "setup", Err: string(msg)}
	}
	return fmt.Errorf("context %s: %s: %s", name, se.Step, se.Err)
}

// cloneFlags are the namespaces a context of network mode gets: all, but
// the network one when it shares the host's stack.
func cloneFlags(mode string) uintptr {
	f := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if mode != NetShared {
		f |= unix.CLONE_NEWNET
	}
	return f
}

// attachBindFilter attaches the shared mode's bind filter to the cgroup2
// directory of the context's cgroup.
func attachBindFilter(cgPath string, addrs []netip.Prefix) error {
	g, err := cgroup.Open(cgPath)
	if err != nil {
		return err
	}
	dir := g.UnifiedDir()
	if dir == "" {
		return errors.New("shared mode needs a cgroup2 hierarchy (on v1 hosts, /sys/fs/cgroup/unified)")
	}
	var ips []netip.Addr
	for _, p := range addrs {
		ips = append(ips, p.Addr())
	}
	f, err := bindfilter.Attach(dir, ips)
	if err != nil {
		return err
	}
	return f.Close() // the programs stay attached to the cgroup
}

// scopeProps are the limits as a systemd scope's properties.
func scopeProps(l cgroup.Limits) systemd.ScopeProps {
	return systemd.ScopeProps{
		TasksMax:           uint64(max(l.Pids, 0)),
		MemoryMax:          uint64(max(l.MemoryBytes, 0)),
		MemorySwapMax:      uint64(max(l.SwapBytes, 0)),
		NoSwap:             l.MemoryBytes > 0 && l.SwapBytes == 0,
		CPUWeight:          l.CPUWeight,
		CPUQuotaPerSecUSec: uint64(l.CPUQuota * 1e6),
		IOWeight:           l.IOWeight,
	}
}

// Wait waits for the context's init to end and returns how it ended. Only
// the process that called Start can wait.
func (c *Context) Wait() (syscall.WaitStatus, error) {
	ps, err := c.proc.Wait()
	if err != nil {
		return 0, err
	}
	return ps.Sys().(syscall.WaitStatus), nil
}

// Signal sends sig to the context's init.
func (c *Context) Signal(sig os.Signal) error { return c.proc.Signal(sig) }

func orDevNull(f *os.File) *os.File {
	if f != nil {
		return f
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil
	}
	return null
}

// linkGoneTimeout bounds the wait for a veth of the last boot to go: the
// kernel deletes it within tens of milliseconds of its namespace's end.
const linkGoneTimeout = 3 * time.Second

// waitLinkGone waits up to timeout for the link called name to go, and
// reports whether it has. vhost never deletes a link it did not find in its
// own records: one that stays belongs to someone else, or to a network
// namespace something keeps alive (vhost cleanup deletes that).
func waitLinkGone(name string, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); ; {
		if _, err := netlink.LinkByName(name); err != nil {
			var nf netlink.LinkNotFoundError
			return errors.As(err, &nf)
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// addVeth makes the veth pair: the host end stays here with the gateway
// addresses and a host route to each guest address; the guest end goes
// into the network namespace of pid as GuestIf, where the setup stage
// configures it.
func addVeth(hostIf string, pid int, n *Network, cfg *setupConfig) error {
	// One queue each way, asked for: left to the kernel, each end is made
	// with a queue per CPU and cut down to one afterwards, and each cut
	// waits for an expedited RCU grace period (2 to 8 ms apiece here).
	// The queue lengths are the kernel's defaults (-1 leaves them unset; a
	// zero value would ask for none).
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.NumTxQueues, attrs.NumRxQueues = hostIf, 1, 1
	veth := &netlink.Veth{
		LinkAttrs:       attrs,
		PeerName:        GuestIf,
		PeerNamespace:   netlink.NsPid(pid),
		PeerTxQLen:      -1,
		PeerNumTxQueues: 1,
		PeerNumRxQueues: 1,
	}
	err := netlink.LinkAdd(veth)
	if errors.Is(err, unix.EEXIST) && waitLinkGone(hostIf, linkGoneTimeout) {
		// The pair of this vserver's last boot, which the kernel deletes
		// with its network namespace (see CleanupExited), was still going.
		err = netlink.LinkAdd(veth)
	}
	if err != nil {
		return fmt.Errorf("create veth %s: %w", hostIf, err)
	}
	link, err := netlink.LinkByName(hostIf)
	if err != nil {
		return fmt.Errorf("find veth %s: %w", hostIf, err)
	}
	if n.Bridge != "" {
		// On the bridge's segment: the bridge and its neighbours reach the
		// guest by its addresses, no host address or route of ours needed.
		br, err := netlink.LinkByName(n.Bridge)
		if err != nil || br.Type() != "bridge" {
			return fmt.Errorf("bridge %s: not a bridge on this host (%v)", n.Bridge, err)
		}
		if err := netlink.LinkSetMaster(link, br); err != nil {
			return fmt.Errorf("attach %s to bridge %s: %w", hostIf, n.Bridge, err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("bring %s up: %w", hostIf, err)
		}
		return nil
	}
	for _, gw := range []netip.Addr{cfg.Gateway4, cfg.Gateway6} {
		if !gw.IsValid() {
			continue
		}
		a := &netlink.Addr{IPNet: prefixIPNet(netip.PrefixFrom(gw, gw.BitLen()))}
		if gw.Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(link, a); err != nil {
			return fmt.Errorf("add address %s to %s: %w", gw, hostIf, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring %s up: %w", hostIf, err)
	}
	for _, p := range n.Addresses {
		gw := cfg.Gateway4
		if p.Addr().Is6() {
			gw = cfg.Gateway6
		}
		r := &netlink.Route{
			LinkIndex: link.Attrs().Index,
			Dst:       prefixIPNet(netip.PrefixFrom(p.Addr(), p.Addr().BitLen())),
			Src:       net.IP(gw.AsSlice()),
			Scope:     netlink.SCOPE_LINK,
		}
		if err := netlink.RouteAdd(r); err != nil {
			return fmt.Errorf("route %s to %s: %w", p.Addr(), hostIf, err)
		}
	}
	return nil
}
