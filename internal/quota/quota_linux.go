package quota

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel interfaces not in x/sys/unix: <linux/fs.h> struct fsxattr and
// its ioctls, <linux/dqblk_xfs.h> (the Q_X* quotactl commands work on ext4
// as on XFS) and <linux/quota.h>.
const (
	fsIocFsgetxattr     = 0x801c581f // _IOR('X', 31, struct fsxattr)
	fsIocFssetxattr     = 0x401c5820 // _IOW('X', 32, struct fsxattr)
	fsXflagProjinherit  = 0x00000200
	prjQuota            = 2 // PRJQUOTA
	qXGetQuota          = 'X'<<8 + 3
	qXSetQLim           = 'X'<<8 + 4
	qXGetQStat          = 'X'<<8 + 5
	fsDquotVersion      = 1
	fsProjQuota         = 1 << 1 // fs_disk_quota.d_flags
	fsDqBSoft           = 1 << 2
	fsDqBHard           = 1 << 3
	fsQuotaPdqAcct      = 1 << 4 // fs_quota_stat.qs_flags
	fsQuotaPdqEnfd      = 1 << 5
	basicBlock          = 512 // the unit of fs_disk_quota's block counts
	subCmdShift         = 8
	fsQuotaStatFlagsOff = 2 // offset of qs_flags in struct fs_quota_stat
)

// fsxattr is struct fsxattr.
type fsxattr struct {
	Xflags     uint32
	Extsize    uint32
	Nextents   uint32
	Projid     uint32
	Cowextsize uint32
	_          [8]byte
}

// fsDiskQuota is struct fs_disk_quota (112 bytes).
type fsDiskQuota struct {
	Version      int8
	Flags        int8
	FieldMask    uint16
	ID           uint32
	BlkHardLimit uint64
	BlkSoftLimit uint64
	InoHardLimit uint64
	InoSoftLimit uint64
	BCount       uint64
	ICount       uint64
	ITimer       int32
	BTimer       int32
	IWarns       uint16
	BWarns       uint16
	ITimerHi     int8
	BTimerHi     int8
	RtbTimerHi   int8
	_            int8
	RtbHardLimit uint64
	RtbSoftLimit uint64
	RtbCount     uint64
	RtbTimer     int32
	RtbWarns     uint16
	_            int16
	_            [8]byte
}

func openDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("project quota: %w", err)
	}
	return f, nil
}

func getxattr(f *os.File) (fsxattr, error) {
	var a fsxattr
	err := ioctl(f, fsIocFsgetxattr, unsafe.Pointer(&a))
	return a, err
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), req, uintptr(arg))
		if e != unix.EINTR {
			if e != 0 {
				return e
			}
			return nil
		}
	}
}

// quotactl runs a project quota command on the filesystem of f:
// quotactl_fd(2) (Linux 5.14), else quotactl(2) on the block device the
// filesystem is mounted from.
func quotactl(f *os.File, cmd int, id uint32, addr unsafe.Pointer) error {
	qcmd := uintptr(cmd<<subCmdShift | prjQuota)
	_, _, e := unix.Syscall6(unix.SYS_QUOTACTL_FD, f.Fd(), qcmd, uintptr(id), uintptr(addr), 0, 0)
	if e != unix.ENOSYS {
		if e != 0 {
			return e
		}
		return nil
	}
	dev, err := blockDevice(f)
	if err != nil {
		return err
	}
	p, err := unix.BytePtrFromString(dev)
	if err != nil {
		return err
	}
	_, _, e = unix.Syscall6(unix.SYS_QUOTACTL, qcmd, uintptr(unsafe.Pointer(p)), uintptr(id), uintptr(addr), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// blockDevice finds the source of the mount holding f in mountinfo, by
// device number.
func blockDevice(f *os.File) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", err
	}
	want := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer mi.Close()
	sc := bufio.NewScanner(mi)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != want {
			continue
		}
		for i, fl := range fields {
			if fl == "-" && i+2 < len(fields) && strings.HasPrefix(fields[i+2], "/dev/") {
				return fields[i+2], nil
			}
		}
	}
	return "", fmt.Errorf("no block device for the filesystem of %s", f.Name())
}

// fsName names the type of the filesystem holding f, for errors.
func fsName(f *os.File) string {
	var s unix.Statfs_t
	if unix.Fstatfs(int(f.Fd()), &s) != nil {
		return "filesystem"
	}
	switch int64(s.Type) {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	case unix.NFS_SUPER_MAGIC:
		return "nfs"
	}
	return fmt.Sprintf("filesystem (type %#x)", s.Type)
}

// supported is Supported on an open directory.
func supported(f *os.File) error {
	switch name := fsName(f); name {
	case "ext4", "xfs":
	default:
		return fmt.Errorf("%w: %s holds %s, and only ext4 and xfs have project quotas", ErrUnsupported, name, f.Name())
	}
	if _, err := getxattr(f); err != nil {
		return fmt.Errorf("%w: the %s holding %s has no project ids (FS_IOC_FSGETXATTR: %v)", ErrUnsupported, fsName(f), f.Name(), err)
	}
	var stat [128]byte // struct fs_quota_stat, 80 bytes
	err := quotactl(f, qXGetQStat, 0, unsafe.Pointer(&stat[0]))
	if err == unix.ENOSYS { // no quota operations here
		// An xfs that has them in its kernel says ENOSYS too when it was
		// mounted without quotas: /proc/fs/xfs/xqmstat tells the two apart.
		if _, serr := os.Stat("/proc/fs/xfs/xqmstat"); fsName(f) == "xfs" && serr == nil {
			return fmt.Errorf("%w: the xfs holding %s does not keep quotas; mount it with -o prjquota", ErrUnsupported, f.Name())
		}
		return fmt.Errorf("%w: the %s holding %s has no quota support in this kernel (xfs needs CONFIG_XFS_QUOTA, ext4 CONFIG_QUOTA)", ErrUnsupported, fsName(f), f.Name())
	}
	if err != nil {
		return fmt.Errorf("%w: the %s holding %s does not keep quotas (quotactl Q_XGETQSTAT: %v); mount it with -o prjquota", ErrUnsupported, fsName(f), f.Name(), err)
	}
	flags := uint16(stat[fsQuotaStatFlagsOff]) | uint16(stat[fsQuotaStatFlagsOff+1])<<8
	switch {
	case flags&fsQuotaPdqAcct == 0:
		hint := "mount it with -o prjquota"
		if fsName(f) == "ext4" {
			hint = "enable the feature (tune2fs -O project,quota, unmounted) and mount it with -o prjquota"
		}
		return fmt.Errorf("%w: project quotas are off on the %s holding %s; %s", ErrUnsupported, fsName(f), f.Name(), hint)
	case flags&fsQuotaPdqEnfd == 0:
		return fmt.Errorf("%w: project quotas are counted but not enforced on the %s holding %s; mount it with -o prjquota, not pqnoenforce", ErrUnsupported, fsName(f), f.Name())
	}
	return nil
}

// Supported returns nil if the filesystem holding dir enforces project
// quotas, or an error wrapping ErrUnsupported that says why not and what
// to change.
func Supported(dir string) error {
	f, err := openDir(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return supported(f)
}

// SetLimit makes dir the top of project id and limits the space the
// project may take on dir's filesystem to bytes (rounded up to 512; 0
// removes the limit). dir gets project id with PROJINHERIT, so files and
// directories created below it from now on belong to the project; files
// already below it keep their project, so call it on a new, empty
// directory (a vserver's upper directory, before its first start). Setting
// it again changes the limit. The limit is per project id, not per
// directory: every tree given the same id shares it. It fails, wrapping
// ErrUnsupported, where Supported does.
func SetLimit(dir string, id uint32, bytes uint64) error {
	if id == 0 {
		return fmt.Errorf("set disk limit on %s: project id 0 is every file's default project", dir)
	}
	f, err := openDir(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := supported(f); err != nil {
		return fmt.Errorf("set disk limit on %s: %w", dir, err)
	}
	a, err := getxattr(f)
	if err != nil {
		return fmt.Errorf("set disk limit on %s: FS_IOC_FSGETXATTR: %w", dir, err)
	}
	a.Projid = id
	a.Xflags |= fsXflagProjinherit
	if err := ioctl(f, fsIocFssetxattr, unsafe.Pointer(&a)); err != nil {
		return fmt.Errorf("set disk limit on %s: set project id %d: %w", dir, id, err)
	}
	q := fsDiskQuota{
		Version:      fsDquotVersion,
		Flags:        fsProjQuota,
		FieldMask:    fsDqBHard | fsDqBSoft,
		ID:           id,
		BlkHardLimit: (bytes + basicBlock - 1) / basicBlock,
	}
	if err := quotactl(f, qXSetQLim, id, unsafe.Pointer(&q)); err != nil {
		return fmt.Errorf("set disk limit on %s: quotactl Q_XSETQLIM project %d: %w", dir, id, err)
	}
	return nil
}

// Get returns the usage and limit of project id on the filesystem holding
// dir. A project that has never owned a file uses nothing.
func Get(dir string, id uint32) (Usage, error) {
	f, err := openDir(dir)
	if err != nil {
		return Usage{}, err
	}
	defer f.Close()
	if err := supported(f); err != nil {
		return Usage{}, fmt.Errorf("disk usage of project %d: %w", id, err)
	}
	var q fsDiskQuota
	err = quotactl(f, qXGetQuota, id, unsafe.Pointer(&q))
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return Usage{}, nil
	}
	if err != nil {
		return Usage{}, fmt.Errorf("disk usage of project %d on %s: quotactl Q_XGETQUOTA: %w", id, dir, err)
	}
	return Usage{
		Bytes:      q.BCount * basicBlock,
		Inodes:     q.ICount,
		LimitBytes: q.BlkHardLimit * basicBlock,
	}, nil
}

// ProjectID returns the project id of dir (0 if it has none).
func ProjectID(dir string) (uint32, error) {
	f, err := openDir(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	a, err := getxattr(f)
	if err != nil {
		return 0, fmt.Errorf("project id of %s: %w: FS_IOC_FSGETXATTR: %v", dir, ErrUnsupported, err)
	}
	return a.Projid, nil
}
