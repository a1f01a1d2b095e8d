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

	"github.com/vservers/vserver/internal/cgroup"
	"github.com/vservers/vserver/internal/seccomp"
)

// setupArg is the hidden first argument that makes a binary importing this
// package the setup stage instead of itself.
const setupArg = "__vhost_context_setup"

// The setup stage's inherited files, after stdin, stdout and stderr.
const (
	configFd = 3 // read: the setupConfig as JSON, then EOF, which means "go"
	errorFd  = 4 // write: a setupError as JSON; closed on exec when all went well
)

// setupConfig is what the setup stage needs: the Spec, resolved.
type setupConfig struct {
	Rootfs       string
	Overlay      *Overlay
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
	if err := setupNetwork(&cfg); err != nil {
		fail("network", err)
	}
	if err := setupRoot(&cfg); err != nil {
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

// setupRoot makes cfg.Rootfs the root of this mount namespace, with fresh
// /proc, /sys, /dev, /run and /tmp and the host's init bound read-only.
func setupRoot(cfg *setupConfig) error {
	// Clone gave us a copy of the host's mounts, still sharing propagation
	// with them: cut that first, or our mounts would appear on the host.
	if err := mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	root, err := filepath.EvalSymlinks(cfg.Rootfs)
	if err != nil {
		return err
	}
	if o := cfg.Overlay; o != nil {
		// Only this namespace sees the overlay: it goes with the context.
		opts := "lowerdir=" + o.Lower + ",upperdir=" + o.Upper + ",workdir=" + o.Work
		if err := mount("overlay", root, "overlay", 0, opts); err != nil {
			return err
		}
	} else if err := mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		// pivot_root needs the new root to be a mount point.
		return err
	}
	// Mount targets are resolved as the guest would resolve them: an
	// image's symlinks (merged /usr, say) are followed, never out of it.
	dirs := map[string]string{}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "sbin"} {
		p, err := dirInRoot(root, d)
		if err != nil {
			return err
		}
		dirs[d] = p
	}
	in := func(d string) string { return dirs[d] }
	const nosuidNodev = unix.MS_NOSUID | unix.MS_NODEV
	steps := []struct {
		source, target, fstype string
		flags                  uintptr
		data                   string
	}{
		{"proc", in("proc"), "proc", nosuidNodev | unix.MS_NOEXEC, ""},
		{"sysfs", in("sys"), "sysfs", nosuidNodev | unix.MS_NOEXEC | unix.MS_RDONLY, ""},
		{"tmpfs", in("dev"), "tmpfs", unix.MS_NOSUID | unix.MS_STRICTATIME, "mode=755,size=65536k"},
		{"tmpfs", in("run"), "tmpfs", nosuidNodev, "mode=755,size=20%"},
		{"tmpfs", in("tmp"), "tmpfs", nosuidNodev, "mode=1777,size=50%"},
	}
	for _, s := range steps {
		if err := mount(s.source, s.target, s.fstype, s.flags, s.data); err != nil {
			return err
		}
	}
	if err := setupDev(in("dev")); err != nil {
		return err
	}
	if err := mountCgroup2(in("sys")); err != nil {
		return err
	}
	if err := maskProc(root); err != nil {
		return err
	}
	for _, m := range cfg.Mounts {
		if err := bindInto(root, m); err != nil {
			return err
		}
	}
	if err := bindInit(cfg.Init, filepath.Join(in("sbin"), filepath.Base(InitPath))); err != nil {
		return err
	}
	return pivotRoot(root)
}

// mountCgroup2 mounts the cgroup2 hierarchy at the guest's /sys/fs/cgroup,
// where the host has one (on v1 hosts, /sys/fs/cgroup/unified). In the
// context's cgroup namespace its root is the context's own cgroup: vinit
// puts each service in a cgroup of its own below it, to track and stop all
// of a service's processes, and the guest sees nothing above.
func mountCgroup2(sys string) error {
	if cgroup.Cgroup2Dir() == "" {
		return nil
	}
	target := filepath.Join(sys, "fs/cgroup")
	if err := mount("cgroup2", target, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	return nil
}

// devices are the nodes of the guest's /dev, as in runc's default set.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

func setupDev(dev string) error {
	for _, d := range devices {
		p := filepath.Join(dev, d.name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", p, err)
		}
		if err := unix.Chmod(p, 0o666); err != nil { // past the umask
			return err
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	if err := mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC,
		"newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return err
	}
	if err := mount("shm", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return err
	}
	links := [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
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
func bindInit(init, target string) error {
	if fi, err := os.Lstat(target); err != nil || !fi.Mode().IsRegular() {
		if err == nil {
			return fmt.Errorf("%s in the image is not a regular file", InitPath)
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o755)
		if err != nil {
			return fmt.Errorf("make the mount point for init: %w", err)
		}
		f.Close()
	}
	if err := mount(init, target, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	return mount(init, target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, "")
}

// bindInto binds m.Source onto m.Target inside root, making the target
// (a directory, or an empty file for a file) where it is missing.
func bindInto(root string, m Mount) error {
	fi, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.Source, err)
	}
	target, err := pathInRoot(root, m.Target, fi.IsDir())
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.Source, m.Target, err)
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
func pathInRoot(root, p string, dir bool) (string, error) {
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
		name := filepath.Join(parent, parts[i])
		if !last || dir {
			err = unix.Mkdirat(unix.AT_FDCWD, name, 0o755)
		} else {
			var fd int
			fd, err = unix.Open(name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			unix.Close(fd)
		}
		if err != nil {
			return "", fmt.Errorf("make %s: %w", name, err)
		}
	}
	return resolveInRoot(root, strings.Join(parts, "/"))
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
	if got != root && !strings.HasPrefix(got, root+"/") {
		return "", fmt.Errorf("%s resolves to %s, outside the guest's root", rel, got)
	}
	return got, nil
}

// pivotRoot makes root the root directory and detaches the old one, so no
// path leads back to the host's files.
func pivotRoot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; the
	// detach then uncovers the new root (runc's pivotRoot).
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	return unix.Chdir("/")
}

// dirInRoot resolves name inside root as the guest will see it, following
// symlinks without ever leaving root (openat2 RESOLVE_IN_ROOT), makes it a
// directory if it is missing, and returns its host path.
func dirInRoot(root, name string) (string, error) {
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
		if err := unix.Mkdirat(rfd, name, 0o755); err != nil {
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
	if p != root && !strings.HasPrefix(p, root+"/") {
		return "", fmt.Errorf("/%s in the image resolves to %s, outside the image", name, p)
	}
	return p, nil
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
