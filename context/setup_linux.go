package context

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/internal/seccomp"
)

// setupArg is the hidden first argument that makes a binary importing this
// package the setup stage instead of itself.
const setupArg = "__vhost_context_setup"

// The setup stage's inherited files, after stdin, stdout and stderr.
const (
	configFd = 3 // read: the setupConfig as JSON, then EOF, which means "go"
	// errorFd is written: stageReady once the stage made its own /proc
	// and /sys (the host may then change its mounts), then a setupError as
	// JSON; it closes on exec when all went well.
	errorFd = 4
)

// stageReady is the setup stage's first byte on the error pipe.
const stageReady = 'R'

// setupConfig is what the setup stage needs: the Spec, resolved.
type setupConfig struct {
	Rootfs  string
	Overlay *Overlay
	// UserNS says the stage runs in a user namespace of this map, and the
	// host made hostMounts's mounts already.
	UserNS       *IDMap
	Cgroup2      bool // the host has a cgroup2 hierarchy, which the guest gets too
	Mounts       []Mount
	Hostname     string
	Init         string
	InitArgs     []string
	Env          []string
	Isolated     bool
	Shared       bool // the host's network stack: nothing to set up
	Addresses    []netip.Prefix
	Gateway4     netip.Addr
	Gateway6     netip.Addr
	Capabilities []string
	NoNewPrivs   bool
	Seccomp      bool
}

type setupError struct {
	Step string
	Err  string
}

func init() {
	if len(os.Args) > 1 && os.Args[1] == setupArg {
		// Every namespace operation below happens on this thread, and
		// execve from it makes its state the process's. Never unlocked.
		runtime.LockOSThread()
		runSetup()
	}
}

// runSetup is the setup stage's main. It never returns.
func runSetup() {
	// Out of the guest's reach until init replaces us (execve resets it).
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	errPipe := os.NewFile(errorFd, "error pipe")
	fail := func(step string, err error) {
		json.NewEncoder(errPipe).Encode(setupError{Step: step, Err: err.Error()})
		os.Exit(1)
	}
	// Made while the host's /proc and /sys are still in our mount
	// namespace (see kernelFS).
	procFS, sysFS, err := kernelFS()
	if err != nil {
		fail("root filesystem", err)
	}
	errPipe.Write([]byte{stageReady})
	var cfg setupConfig
	b, err := io.ReadAll(os.NewFile(configFd, "config pipe"))
	if err != nil {
		fail("read config", err)
	}
	if len(b) == 0 {
		os.Exit(1) // the host gave up before handing over: nothing to report to
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		fail("read config", err)
	}
	// We are in the vserver's cgroup by now: the cgroup namespace's root
	// is that cgroup.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		fail("cgroup namespace", err)
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		fail("hostname", err)
	}
	if cfg.UserNS == nil {
		if err := hostMounts(&cfg, noMapping); err != nil {
			fail("root filesystem", err)
		}
	}
	if err := attachKernelFS(procFS, sysFS); err != nil {
		fail("root filesystem", err)
	}
	// With our own /proc: its /proc/sys/net is this network namespace's.
	if err := setupNetwork(&cfg); err != nil {
		fail("network", err)
	}
	if err := guestMounts(&cfg); err != nil {
		fail("root filesystem", err)
	}
	if err := limitBoundingSet(cfg.Capabilities); err != nil {
		fail("capabilities", err)
	}
	if err := limitInheritable(cfg.Capabilities); err != nil {
		fail("capabilities", err)
	}
	if cfg.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			fail("no_new_privs", err)
		}
	}
	// Last: the filter denies the mounts and hostname calls above. This
	// thread still has CAP_SYS_ADMIN, and execs init from here.
	if cfg.Seccomp {
		if err := seccomp.Default().Install(); err != nil {
			fail("seccomp", err)
		}
	}
	// Nothing of the host's may leak in: every fd above stderr closes on
	// exec (the error pipe too, which tells the host that exec happened).
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fail("close fds", err)
	}
	argv := append([]string{InitPath}, cfg.InitArgs...)
	err = unix.Exec(InitPath, argv, cfg.Env)
	fail("exec "+InitPath, err)
}

// hostMounts builds the guest's root from host files: the image (an
// overlay, or the root bound onto itself), the mount points it needs, /dev
// with the host's harmless device nodes bound in, cfg.Mounts and init bound
// read-only. Then it pivots this mount namespace into that root and
// detaches the old one, so no path leads back to the host's files.
//
// Without a user namespace the setup stage calls it. With one, the host
// does, from a thread that joined the stage's mount namespace (see
// inMountNS): what it mounts is the host's files, which only host root
// may idmap and the stage, an unprivileged host user, may not even look up.
// The stage's root and working directory follow the pivot.
func hostMounts(cfg *setupConfig, ids idmapping) error {
	// Clone gave us a copy of the host's mounts, still sharing propagation
	// with them: cut that first, or our mounts would appear on the host.
	if err := mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	root, err := filepath.EvalSymlinks(cfg.Rootfs)
	if err != nil {
		return err
	}
	image := root
	if cfg.Overlay != nil {
		image = cfg.Overlay.Lower
	}
	if ids.mapped() {
		// The image's files, owned by 0, are the guest root's through an
		// idmapped mount; with an overlay it goes on root first and the
		// overlay, which keeps its own reference to it, on top.
		if err := ids.bind(image, root, false, "the image "+image); err != nil {
			return err
		}
		image = root
	}
	if o := cfg.Overlay; o != nil {
		if ids.mapped() {
			// Guest root owns its "/" (the upper layer's root) and what
			// it writes; the work directory stays the host's.
			if err := ids.own(o.Upper); err != nil {
				return err
			}
		}
		// Only this namespace sees the overlay: it goes with the context.
		opts := "lowerdir=" + image + ",upperdir=" + o.Upper + ",workdir=" + o.Work
		if err := mount("overlay", root, "overlay", 0, opts); err != nil {
			return err
		}
	} else if !ids.mapped() {
		// pivot_root needs the new root to be a mount point.
		if err := mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
	}
	// Mount targets are resolved as the guest would resolve them: an
	// image's symlinks (merged /usr, say) are followed, never out of it.
	dirs := map[string]string{}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "sbin"} {
		p, err := dirInRoot(root, d, ids)
		if err != nil {
			return err
		}
		dirs[d] = p
	}
	if err := setupDev(dirs["dev"], ids); err != nil {
		return err
	}
	for _, m := range cfg.Mounts {
		if err := bindInto(root, m, ids); err != nil {
			return err
		}
	}
	if err := bindInit(cfg.Init, filepath.Join(dirs["sbin"], filepath.Base(InitPath)), ids); err != nil {
		return err
	}
	if err := unix.Chdir(root); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; the
	// detach then uncovers the new root (runc's pivotRoot). Every process
	// whose root or working directory was the old root is moved to the
	// new one: the setup stage too, when this runs on a host thread.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	return unix.Chdir("/")
}

// kernelFS makes, detached, the filesystems of the context's own
// namespaces that a user namespace may make only while a full view of the
// host's is in its mount namespace: /proc of its PID namespace and /sys of
// its network namespace (the kernel's mount_too_revealing). The setup
// stage makes them first, and attaches them once hostMounts has put it in
// the guest's root with nothing of the host's left.
func kernelFS() (proc, sys int, err error) {
	make := func(fstype string, attrs int) (int, error) {
		fs, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
		if err != nil {
			return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
		}
		defer unix.Close(fs)
		if err := unix.FsconfigCreate(fs); err != nil {
			return -1, fmt.Errorf("create %s: %w", fstype, err)
		}
		m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, attrs)
		if err != nil {
			return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
		}
		return m, nil
	}
	const attrs = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	if proc, err = make("proc", attrs); err != nil {
		return -1, -1, err
	}
	if sys, err = make("sysfs", attrs|unix.MOUNT_ATTR_RDONLY); err != nil {
		unix.Close(proc)
		return -1, -1, err
	}
	return proc, sys, nil
}

// attachKernelFS puts kernelFS's filesystems on the guest's /proc and
// /sys. Nothing can be resolved the way dirInRoot does before /proc
// exists, and move_mount(2) would follow a symlink out of the root: an
// image's /proc and /sys must be directories (hostMounts made them where
// missing).
func attachKernelFS(proc, sys int) error {
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	for _, m := range []struct {
		fd     int
		target string
	}{{proc, "/proc"}, {sys, "/sys"}} {
		if fi, err := os.Lstat(m.target); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s in the image is not a directory", m.target)
		}
		if err := unix.MoveMount(m.fd, "", unix.AT_FDCWD, m.target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("mount %s: %w", m.target, err)
		}
		unix.Close(m.fd)
	}
	return nil
}

// guestMounts finishes the guest's root in the setup stage: /run, /tmp, a
// devpts and /dev/shm of its own, cgroup2, the masked and read-only parts
// of /proc and /sys. In a user namespace, everything mounted here belongs
// to it: guest root owns /run and /tmp, and the terminals' group is the
// guest's tty group.
func guestMounts(cfg *setupConfig) error {
	const nosuidNodev = unix.MS_NOSUID | unix.MS_NODEV
	steps := []struct {
		source, target, fstype string
		flags                  uintptr
		data                   string
	}{
		{"tmpfs", "run", "tmpfs", nosuidNodev, "mode=755,size=20%"},
		{"tmpfs", "tmp", "tmpfs", nosuidNodev, "mode=1777,size=50%"},
		{"devpts", "dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{"shm", "dev/shm", "tmpfs", nosuidNodev | unix.MS_NOEXEC, "mode=1777,size=65536k"},
	}
	for _, s := range steps {
		// Resolved as before hostMounts's pivot: inside the root.
		target, err := dirInRoot("/", s.target, noMapping)
		if err != nil {
			return err
		}
		if err := mount(s.source, target, s.fstype, s.flags, s.data); err != nil {
			return err
		}
	}
	if cfg.Cgroup2 {
		if err := mountCgroup2("/sys"); err != nil {
			return err
		}
	}
	return maskProc("/")
}

// mountCgroup2 mounts the cgroup2 hierarchy at the guest's /sys/fs/cgroup
// (the host's may be at /sys/fs/cgroup/unified, beside v1's). In the
// context's cgroup namespace its root is the context's own cgroup: vinit
// puts each service in a cgroup of its own below it, to track and stop all
// of a service's processes, and the guest sees nothing above.
func mountCgroup2(sys string) error {
	target := filepath.Join(sys, "fs/cgroup")
	if err := mount("cgroup2", target, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	return nil
}

// devices are the nodes of the guest's /dev, as in runc's default set:
// the host's own, bound in (a user namespace can't make device nodes, and
// binding is what LXC and nspawn do there too).
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

func setupDev(dev string, ids idmapping) error {
	data := "mode=755,size=65536k"
	if ids.mapped() {
		data += fmt.Sprintf(",uid=%d,gid=%d", ids.base, ids.base)
	}
	if err := mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, data); err != nil {
		return err
	}
	for _, d := range devices {
		p := filepath.Join(dev, d)
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return fmt.Errorf("make the mount point of /dev/%s: %w", d, err)
		}
		unix.Close(fd)
		if err := mount("/dev/"+d, p, "", unix.MS_BIND, ""); err != nil {
			return err
		}
	}
	for _, d := range []string{"pts", "shm"} {
		p := filepath.Join(dev, d)
		if err := os.Mkdir(p, 0o755); err != nil {
			return err
		}
		if err := ids.own(p); err != nil {
			return err
		}
	}
	links := [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}
	for _, l := range links {
		p := filepath.Join(dev, l[1])
		if err := os.Symlink(l[0], p); err != nil {
			return err
		}
		if err := ids.own(p); err != nil {
			return err
		}
	}
	return nil
}

// maskedPaths and readonlyPaths are runc's defaults: kernel interfaces a
// guest must neither read nor change.
var (
	maskedPaths = []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		"/sys/devices/virtual/powercap"}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

func maskProc(root string) error {
	for _, p := range maskedPaths {
		target := filepath.Join(root, p)
		fi, err := os.Stat(target)
		if err != nil {
			continue // not on this kernel
		}
		if fi.IsDir() {
			err = mount("tmpfs", target, "tmpfs", unix.MS_RDONLY, "size=0")
		} else {
			err = mount(filepath.Join(root, "dev/null"), target, "", unix.MS_BIND, "")
		}
		if err != nil {
			return err
		}
	}
	for _, p := range readonlyPaths {
		target := filepath.Join(root, p)
		if _, err := os.Stat(target); err != nil {
			continue
		}
		if err := mount(target, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := mount(target, target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return err
		}
	}
	return nil
}

// bindInit binds the host's init binary read-only onto target, making the
// mount point if the image lacks it.
func bindInit(init, target string, ids idmapping) error {
	if fi, err := os.Lstat(target); err != nil || !fi.Mode().IsRegular() {
		if err == nil {
			return fmt.Errorf("%s in the image is not a regular file", InitPath)
		}
		if err := createIn(filepath.Dir(target), filepath.Base(target), false, ids); err != nil {
			return fmt.Errorf("make the mount point for init: %w", err)
		}
	}
	if err := mount(init, target, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	return mount(init, target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, "")
}

// bindInto binds m.Source onto m.Target inside root, making the target
// (a directory, or an empty file for a file) where it is missing; with
// m.Idmap, through the context's id map.
func bindInto(root string, m Mount, ids idmapping) error {
	fi, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.Source, err)
	}
	target, err := pathInRoot(root, m.Target, fi.IsDir(), ids)
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.Source, m.Target, err)
	}
	if m.Idmap {
		return ids.bind(m.Source, target, m.ReadOnly, "mount "+m.Source)
	}
	if err := mount(m.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if m.ReadOnly {
		return mount(m.Source, target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
	}
	return nil
}

// pathInRoot resolves p inside root as the guest will, making each missing
// component (the last one a directory when dir, else an empty file) in the
// directory its parent resolved to, and returns the host path.
func pathInRoot(root, p string, dir bool, ids idmapping) (string, error) {
	parts := strings.Split(strings.Trim(filepath.Clean(p), "/"), "/")
	for i := range parts {
		last := i == len(parts)-1
		rel := strings.Join(parts[:i+1], "/")
		if _, err := resolveInRoot(root, rel); err == nil {
			continue
		} else if !errors.Is(err, unix.ENOENT) {
			return "", err
		}
		parent, err := resolveInRoot(root, strings.Join(parts[:i], "/"))
		if err != nil {
			return "", err
		}
		if err := createIn(parent, parts[i], !last || dir, ids); err != nil {
			return "", err
		}
	}
	return resolveInRoot(root, strings.Join(parts, "/"))
}

// createIn makes name, a directory or else an empty file, in the host
// directory dir of the guest's files, as guest root (ids.asGuestRoot).
func createIn(dir, name string, isDir bool, ids idmapping) error {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	err = ids.asGuestRoot(func() error {
		if isDir {
			return unix.Mkdirat(dfd, name, 0o755)
		}
		fd, err := unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("make %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// resolveInRoot is the host path of rel inside root, resolved with
// openat2(RESOLVE_IN_ROOT): symlinks followed, never out of root.
func resolveInRoot(root, rel string) (string, error) {
	if rel == "" {
		return root, nil
	}
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(rfd)
	fd, err := unix.Openat2(rfd, rel, &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	got, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	if !within(root, got) {
		return "", fmt.Errorf("%s resolves to %s, outside the guest's root", rel, got)
	}
	return got, nil
}

// dirInRoot resolves name inside root as the guest will see it, following
// symlinks without ever leaving root (openat2 RESOLVE_IN_ROOT), makes it a
// directory if it is missing, and returns its host path.
func dirInRoot(root, name string, ids idmapping) (string, error) {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rfd)
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(rfd, name, how)
	if err == unix.ENOENT {
		if err := ids.asGuestRoot(func() error { return unix.Mkdirat(rfd, name, 0o755) }); err != nil {
			return "", fmt.Errorf("make /%s in the image: %w", name, err)
		}
		fd, err = unix.Openat2(rfd, name, how)
	}
	if err != nil {
		return "", fmt.Errorf("/%s in the image: %w", name, err)
	}
	defer unix.Close(fd)
	// The kernel's name for what we resolved: a host path inside root.
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	if !within(root, p) {
		return "", fmt.Errorf("/%s in the image resolves to %s, outside the image", name, p)
	}
	return p, nil
}

// within reports whether path p is root or below it.
func within(root, p string) bool {
	// Outside our root, the kernel names a path "(unreachable)/...".
	return p == root || root == "/" && strings.HasPrefix(p, "/") || strings.HasPrefix(p, root+"/")
}

func mount(source, target, fstype string, flags uintptr, data string) error {
	for {
		err := unix.Mount(source, target, fstype, flags, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "mount " + fstype + " " + source, Path: target, Err: err}
		}
		return nil
	}
}

// setupNetwork brings up loopback and, when isolated, the guest's end of the
// veth pair with its addresses and default routes.
func setupNetwork(cfg *setupConfig) error {
	if cfg.Shared {
		return nil // the host's lo and links: not ours to touch
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if !cfg.Isolated {
		return nil
	}
	eth, err := netlink.LinkByName(GuestIf)
	if err != nil {
		return fmt.Errorf("find %s: %w", GuestIf, err)
	}
	// The guest has exactly its configured addresses: no IPv6 link-local
	// one appears when the link comes up. (/proc/sys/net is this network
	// namespace's, whichever /proc it is read through.)
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+GuestIf+"/addr_gen_mode", []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("turn off IPv6 link-local addresses: %w", err)
	}
	for _, p := range cfg.Addresses {
		a := &netlink.Addr{IPNet: prefixIPNet(p)}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(eth, a); err != nil {
			return fmt.Errorf("add address %s to %s: %w", p, GuestIf, err)
		}
	}
	if err := netlink.LinkSetUp(eth); err != nil {
		return fmt.Errorf("bring %s up: %w", GuestIf, err)
	}
	for _, gw := range []netip.Addr{cfg.Gateway4, cfg.Gateway6} {
		if !gw.IsValid() {
			continue
		}
		r := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.IP(gw.AsSlice()), Flags: int(netlink.FLAG_ONLINK)}
		if err := netlink.RouteAdd(r); err != nil {
			return fmt.Errorf("add default route via %s: %w", gw, err)
		}
	}
	return nil
}

func prefixIPNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}
