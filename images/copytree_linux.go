package images

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// copyTree copies the tree at src to dst, which must not exist, keeping
// owners, modes (setuid bits too), times, symbolic links, hard links (an
// inode linked twice in src is linked twice in dst), FIFOs and device
// nodes. Sockets are skipped, extended attributes not copied, and other
// filesystems mounted below src not entered.
func copyTree(dst, src string) error {
	var rootDev uint64
	type inode struct{ dev, ino uint64 }
	linked := map[inode]string{}
	var dirs []string // times are set last, deepest first
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		if p == src {
			rootDev = st.Dev
		} else if st.Dev != rootDev {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := os.Mkdir(to, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, p)
		case unix.S_IFREG:
			k := inode{st.Dev, st.Ino}
			if first, ok := linked[k]; ok {
				return os.Link(first, to)
			}
			if st.Nlink > 1 {
				linked[k] = to
			}
			if err := copyFile(to, p, 0o600); err != nil {
				return err
			}
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
		case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
			if err := unix.Mknod(to, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil {
				return &os.PathError{Op: "mknod", Path: to, Err: err}
			}
		default: // sockets belong to a running guest, not to an image
			return nil
		}
		return copyMeta(to, &st)
	})
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		var st unix.Stat_t
		if err := unix.Lstat(dirs[i], &st); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		rel, _ := filepath.Rel(src, dirs[i])
		if err := setStatTimes(filepath.Join(dst, rel), &st); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	return nil
}

// copyMeta gives to the owner, mode and (but for directories) times in st.
func copyMeta(to string, st *unix.Stat_t) error {
	if err := unix.Lchown(to, int(st.Uid), int(st.Gid)); err != nil {
		return &os.PathError{Op: "lchown", Path: to, Err: err}
	}
	typ := st.Mode & unix.S_IFMT
	if typ == unix.S_IFLNK {
		return setStatTimes(to, st)
	}
	// After chown, which clears setuid bits. to is not a symbolic link.
	if err := unix.Chmod(to, st.Mode&0o7777); err != nil {
		return &os.PathError{Op: "chmod", Path: to, Err: err}
	}
	if typ == unix.S_IFDIR {
		return nil
	}
	return setStatTimes(to, st)
}

func setStatTimes(to string, st *unix.Stat_t) error {
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, to, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: to, Err: err}
	}
	return nil
}
