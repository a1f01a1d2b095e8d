package context

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// idmapping is what hostMounts needs of the context's user namespace: an
// fd of it, to idmap mounts with, and the host id of guest root, to own
// what it makes for the guest.
type idmapping struct {
	fd   int    // the user namespace, -1 without one
	base uint32 // host uid and gid of guest root
}

// noMapping is a context without a user namespace.
var noMapping = idmapping{fd: -1}

func (m idmapping) mapped() bool { return m.fd >= 0 }

// own makes path guest root's: what host root creates in the guest's
// files would otherwise be nobody's in there.
func (m idmapping) own(path string) error {
	if !m.mapped() {
		return nil
	}
	if err := os.Lchown(path, int(m.base), int(m.base)); err != nil {
		return fmt.Errorf("hand %s to guest root: %w", path, err)
	}
	return nil
}

// asGuestRoot runs fn with this thread's filesystem ids those of guest
// root (setfsuid(2) and setfsgid(2) change the calling thread only), so
// that what fn creates in the guest's files is guest root's: through an
// idmapped mount host root has no id at all (EOVERFLOW). Without host
// root's fsuid the thread has no capability over the host's directories,
// so fn creates relative to directories opened before.
func (m idmapping) asGuestRoot(fn func() error) error {
	if !m.mapped() {
		return fn()
	}
	unix.SetfsgidRetGid(int(m.base))
	unix.SetfsuidRetUid(int(m.base))
	defer func() {
		unix.SetfsuidRetUid(0)
		unix.SetfsgidRetGid(0)
	}()
	return fn()
}

// bind mounts source onto target seen through the map, with an idmapped
// mount: a clone of source's mounts (open_tree), marked with the user
// namespace (mount_setattr MOUNT_ATTR_IDMAP), moved onto target. A file
// of host uid N then shows as host uid base+N, which is guest uid N: the
// image's root-owned files are guest root's, and nothing on disk changes.
// what names source in errors.
func (m idmapping) bind(source, target string, readOnly bool, what string) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("%s: clone its mount: %w", what, err)
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(m.fd)}
	if readOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return idmapError(what, source, err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("%s: mount it on %s: %w", what, target, err)
	}
	return nil
}

// ErrNoIdmap says that a filesystem can't be idmapped here, so a context
// with a user namespace can't show its files to the guest.
var ErrNoIdmap = errors.New("can't be idmapped")

// idmapError explains a failed MOUNT_ATTR_IDMAP: which filesystem, on which
// kernel.
func idmapError(what, path string, err error) error {
	fs := "its filesystem"
	var st unix.Statfs_t
	if unix.Statfs(path, &st) == nil {
		fs = fsName(st.Type)
	}
	var u unix.Utsname
	unix.Uname(&u)
	reason := err.Error()
	if err == unix.EINVAL || err == unix.EOPNOTSUPP {
		reason = "the kernel supports idmapped mounts only of some filesystems (ext4, xfs, btrfs, and tmpfs from Linux 6.3, ...)"
	}
	return fmt.Errorf("%s is on %s, which %w on Linux %s: %s", what, fs, ErrNoIdmap, unix.ByteSliceToString(u.Release[:]), reason)
}

func fsName(magic int64) string {
	names := map[int64]string{
		unix.EXT4_SUPER_MAGIC: "ext4", unix.XFS_SUPER_MAGIC: "xfs", unix.BTRFS_SUPER_MAGIC: "btrfs",
		unix.TMPFS_MAGIC: "tmpfs", unix.OVERLAYFS_SUPER_MAGIC: "overlayfs", unix.NFS_SUPER_MAGIC: "nfs",
		unix.V9FS_MAGIC: "9p", unix.FUSE_SUPER_MAGIC: "fuse", unix.SQUASHFS_MAGIC: "squashfs",
		unix.F2FS_SUPER_MAGIC: "f2fs", unix.RAMFS_MAGIC: "ramfs",
	}
	if n, ok := names[magic]; ok {
		return n
	}
	return "a filesystem of type 0x" + strconv.FormatInt(magic, 16)
}

// hostMountsInUserNS makes, from the host, the mounts of the setup stage
// pid that need host root (hostMounts): the stage runs as an unprivileged
// host user in its user namespace and can neither idmap the image nor look
// up the host's paths.
func hostMountsInUserNS(pid int, cfg *setupConfig) error {
	nsfd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the user namespace of %d: %w", pid, err)
	}
	defer unix.Close(nsfd)
	return inMountNS(pid, func() error {
		return hostMounts(cfg, idmapping{fd: nsfd, base: cfg.UserNS.HostBase})
	})
}

// inMountNS runs fn in the mount namespace of process pid, on a locked
// thread that unshared its filesystem state first (setns(2) refuses a
// thread sharing it) and dies when fn returns, so that no other goroutine
// ever runs there. The thread keeps its credentials: host root's.
func inMountNS(pid int, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		ch <- func() error {
			fd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				return fmt.Errorf("pidfd of %d: %w", pid, err)
			}
			defer unix.Close(fd)
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare fs: %w", err)
			}
			if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("join the mount namespace of %d: %w", pid, err)
			}
			return fn()
		}()
	}()
	return <-ch
}

// inOtherUserNS reports whether process pid is in a user namespace other
// than ours: then joining it takes forkInUserNS.
func inOtherUserNS(pid int) (bool, error) {
	self, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		return false, err
	}
	other, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/user")
	if err != nil {
		return false, err
	}
	return self != other, nil
}
