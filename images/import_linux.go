package images

import (
	"archive/tar"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// extractArchive unpacks a (possibly compressed) tar stream into the empty
// directory root, refusing every entry that would land outside it, and
// returns the architecture of the tree's /bin/sh ("" if unknown).
//
// Every path is resolved with openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS)
// relative to a descriptor of root, so the kernel, not string checks, makes
// sure a symbolic link the archive created earlier cannot redirect a later
// entry outside root. The last component is then created relative to its
// parent's descriptor with calls that never follow it (O_NOFOLLOW|O_EXCL,
// mkdirat, symlinkat, linkat without AT_SYMLINK_FOLLOW, mknodat).
func extractArchive(root string, r io.Reader, opt ImportOptions) (arch string, err error) {
	dr, done, err := decompress(r)
	if err != nil {
		return "", err
	}
	defer done()
	rootfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rootfd)
	x := &extractor{root: rootfd, opt: opt}
	tr := tar.NewReader(dr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read tar: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return "", fmt.Errorf("tar entry %q: %w", hdr.Name, err)
		}
	}
	if err := x.prepare(); err != nil {
		return "", err
	}
	if err := x.finishDirs(); err != nil {
		return "", err
	}
	return rootArch(rootfd), nil
}

// rootArch guesses the architecture of the tree at rootfd from its /bin/sh,
// resolving symbolic links as the guest would (RESOLVE_IN_ROOT), never
// through the host's tree; "" if that fails.
func rootArch(rootfd int) string {
	// O_PATH first: opening a device node or FIFO for reading could block
	// or have side effects; only a regular file is opened for real.
	pfd, err := unix.Openat2(rootfd, "bin/sh", &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return ""
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return ""
	}
	f, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", pfd))
	if err != nil {
		return ""
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return ""
	}
	return goarch(ef.Machine, ef.Class)
}

type extractor struct {
	root int
	opt  ImportOptions
	dirs []*tar.Header // directory times are set last: entries inside change them
	// layer, when not nil, makes the extractor apply an OCI layer: it holds
	// the paths the current layer created, and whiteouts are honoured.
	layer map[string]bool
}

// entryPath turns an archive path into one relative to the root: "." for
// the root itself. A ".." component is an error, a leading "/" is dropped.
func entryPath(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errors.New(`path has a ".." component`)
		}
	}
	p := path.Clean("/" + name)[1:]
	if p == "" {
		p = "."
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", errors.New("path has a NUL byte")
	}
	return p, nil
}

const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// openBeneath opens the directory p (relative) below the root; it fails if
// resolving p would leave the root.
func (x *extractor) openBeneath(p string) (int, error) {
	for {
		fd, err := unix.Openat2(x.root, p, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: resolveBeneath,
		})
		switch err {
		case nil:
			return fd, nil
		case unix.EINTR, unix.EAGAIN: // EAGAIN: a rename raced the lookup
			continue
		case unix.EXDEV:
			return -1, fmt.Errorf("%s: resolves outside the rootfs", p)
		}
		return -1, &os.PathError{Op: "openat2", Path: p, Err: err}
	}
}

// parent opens the parent directory of p, creating missing directories
// (mode 0755, owned by root) on the way, and returns it with p's last
// component.
func (x *extractor) parent(p string) (int, string, error) {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	fd, err := x.openBeneath(dir)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, base, err
	}
	// Create the missing directories one by one, each below the last.
	cur := "."
	for _, c := range strings.Split(dir, "/") {
		pfd, err := x.openBeneath(cur)
		if err != nil {
			return -1, "", err
		}
		err = unix.Mkdirat(pfd, c, 0o755)
		unix.Close(pfd)
		if err != nil && err != unix.EEXIST {
			return -1, "", &os.PathError{Op: "mkdirat", Path: path.Join(cur, c), Err: err}
		}
		cur = path.Join(cur, c)
	}
	fd, err = x.openBeneath(dir)
	return fd, base, err
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	p, err := entryPath(hdr.Name)
	if err != nil {
		return err
	}
	if x.layer != nil {
		if done, err := x.whiteout(p); done {
			return err
		}
		x.layer[p] = true
	}
	if p == "." {
		if hdr.Typeflag != tar.TypeDir {
			return errors.New("the root must be a directory")
		}
		x.dirs = append(x.dirs, hdr)
		return x.setMeta(x.root, ".", hdr)
	}
	pfd, base, err := x.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	isDir := hdr.Typeflag == tar.TypeDir
	if err := x.replace(pfd, base, isDir); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
			return &os.PathError{Op: "mkdirat", Path: p, Err: err}
		}
		x.dirs = append(x.dirs, hdr)
	case tar.TypeReg: // archive/tar turns the old TypeRegA into TypeReg
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return &os.PathError{Op: "openat", Path: p, Err: err}
		}
		f := os.NewFile(uintptr(fd), p)
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return &os.PathError{Op: "symlinkat", Path: p, Err: err}
		}
	case tar.TypeLink:
		t, err := entryPath(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		if t == "." {
			return errors.New("hard link to the root")
		}
		tfd, tbase, err := x.parent(t)
		if err != nil {
			return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
		}
		// Flags 0: if the target is a symbolic link, link the link itself.
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
		unix.Close(tfd)
		if err != nil {
			return &os.LinkError{Op: "linkat", Old: hdr.Linkname, New: p, Err: err}
		}
		return nil // a hard link shares its target's owner, mode and times
	case tar.TypeChar, tar.TypeBlock:
		if !x.opt.AllowDevices {
			return errors.New("device node refused (allow device nodes to import it)")
		}
		mode := uint32(unix.S_IFCHR)
		if hdr.Typeflag == tar.TypeBlock {
			mode = unix.S_IFBLK
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, mode|0o600, int(dev)); err != nil {
			return &os.PathError{Op: "mknodat", Path: p, Err: err}
		}
	case tar.TypeFifo:
		if err := unix.Mknodat(pfd, base, unix.S_IFIFO|0o600, 0); err != nil {
			return &os.PathError{Op: "mknodat", Path: p, Err: err}
		}
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	return x.setMeta(pfd, base, hdr)
}

// replace makes room for a new entry base in the directory pfd: an
// existing entry is removed unless both are directories (later entries of
// a tar win, as with tar -x). A directory in the way is removed only if
// empty, except in a layer, where a lower layer's directory is replaced
// with all its contents.
func (x *extractor) replace(pfd int, base string, isDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "fstatat", Path: base, Err: err}
	}
	wasDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if wasDir && isDir {
		return nil
	}
	if wasDir && x.layer != nil {
		return removeAllAt(pfd, base)
	}
	flags := 0
	if wasDir {
		flags = unix.AT_REMOVEDIR // fails unless empty, like tar
	}
	if err := unix.Unlinkat(pfd, base, flags); err != nil {
		return &os.PathError{Op: "unlinkat", Path: base, Err: err}
	}
	return nil
}

// setMeta sets owner, mode and times of base, just created in pfd, never
// following a symbolic link. The mode comes after the owner: chown clears
// setuid bits. Directory times are set by finishDirs.
func (x *extractor) setMeta(pfd int, base string, hdr *tar.Header) error {
	if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chown", Path: hdr.Name, Err: err}
	}
	if hdr.Typeflag == tar.TypeSymlink {
		return setTimes(pfd, base, hdr) // a link's mode means nothing
	}
	// Not a symbolic link (we just made it), so following it is safe.
	if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
		return &os.PathError{Op: "chmod", Path: hdr.Name, Err: err}
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil
	}
	return setTimes(pfd, base, hdr)
}

func setTimes(pfd int, base string, hdr *tar.Header) error {
	t := unix.NsecToTimespec(hdr.ModTime.UnixNano())
	if err := unix.UtimesNanoAt(pfd, base, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: hdr.Name, Err: err}
	}
	return nil
}

// The mount points the host uses in every image, with the modes given to
// those the archive lacks.
var mountPoints = []struct {
	path string
	mode uint32
}{
	{"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}, {"run", 0o755}, {"tmp", 0o1777},
	{"etc/vinit/units", 0o755}, {"var/log/vinit", 0o755},
}

// prepare makes an imported tree bootable by vhost: the directories the
// host mounts on exist and are real directories, and /sbin/vinit is a
// regular file to bind-mount vinit onto. A symbolic link in any of those
// places is refused rather than trusted: a host that mounted through it
// would mount outside the image.
func (x *extractor) prepare() error {
	for _, m := range mountPoints {
		pfd, base, err := x.parent(m.path)
		if err != nil {
			return fmt.Errorf("prepare /%s: %w", m.path, err)
		}
		err = ensure(pfd, base, unix.S_IFDIR, m.mode)
		unix.Close(pfd)
		if err != nil {
			return fmt.Errorf("prepare /%s: %w", m.path, err)
		}
	}
	pfd, base, err := x.parent("sbin/vinit")
	if err != nil {
		return fmt.Errorf("prepare /sbin/vinit: %w", err)
	}
	defer unix.Close(pfd)
	if err := ensure(pfd, base, unix.S_IFREG, 0o755); err != nil {
		return fmt.Errorf("prepare /sbin/vinit: %w", err)
	}
	return nil
}

// ensure makes base in pfd exist with type typ (S_IFDIR or S_IFREG),
// creating it with mode if absent; an entry of another type is an error.
func ensure(pfd int, base string, typ, mode uint32) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil {
		if st.Mode&unix.S_IFMT != typ {
			return fmt.Errorf("the archive put a %s there, want a %s", fileType(st.Mode), fileType(typ))
		}
		return nil
	}
	if err != unix.ENOENT {
		return &os.PathError{Op: "fstatat", Path: base, Err: err}
	}
	if typ == unix.S_IFDIR {
		err = unix.Mkdirat(pfd, base, mode)
	} else {
		var fd int
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
		if err == nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return &os.PathError{Op: "create", Path: base, Err: err}
	}
	return unix.Fchmodat(pfd, base, mode, 0) // past the umask; base is ours, not a link
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFLNK:
		return "symbolic link"
	}
	return "special file"
}

// finishDirs sets the directories' times, now that nothing more is
// created inside them.
func (x *extractor) finishDirs() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		hdr := x.dirs[i]
		p, _ := entryPath(hdr.Name)
		if p == "." {
			if err := setTimes(x.root, ".", hdr); err != nil {
				return err
			}
			continue
		}
		dir, base := path.Split(p)
		if dir = strings.TrimSuffix(dir, "/"); dir == "" {
			dir = "."
		}
		pfd, err := x.openBeneath(dir)
		if err == nil {
			err = setTimes(pfd, base, hdr)
			unix.Close(pfd)
		}
		// In a layer, a later entry or whiteout may have removed it.
		if err != nil && !(x.layer != nil && errors.Is(err, unix.ENOENT)) {
			return err
		}
	}
	x.dirs = x.dirs[:0]
	return nil
}
