package images

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// tarTree writes the tree at rootfs to tw as a layer: owners (numeric),
// modes, modification times, symbolic links, hard links, FIFOs and device
// nodes; sockets are skipped and other filesystems mounted below rootfs
// not entered. The file the guest reaches as /sbin/vinit (through a
// usrmerge link, usr/sbin/vinit) gets the content of the vinit binary.
func tarTree(tw *tar.Writer, rootfs, vinit string) error {
	vinitRel, err := guestFile(rootfs, strings.TrimPrefix(VinitPath, "/"))
	if err != nil {
		return fmt.Errorf("find %s in the image: %w", VinitPath, err)
	}
	vfi, err := os.Stat(vinit)
	if err != nil {
		return err
	}
	var rootDev uint64
	type inode struct{ dev, ino uint64 }
	linked := map[inode]string{}
	return filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(rootfs, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if p == rootfs {
			rootDev = st.Dev
			return nil // layers carry no entry for the root
		}
		if st.Dev != rootDev {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		// The guest's users, not the host's: numbers only.
		hdr.Uname, hdr.Gname = "", ""
		hdr.AccessTime, hdr.ChangeTime = hdr.ModTime, hdr.ModTime
		hdr.Format = tar.FormatPAX
		isVinit := rel == vinitRel
		if fi.Mode().IsRegular() && !isVinit {
			k := inode{st.Dev, st.Ino}
			if first, ok := linked[k]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				return tw.WriteHeader(hdr)
			}
			if st.Nlink > 1 {
				linked[k] = hdr.Name
			}
		}
		src := p
		if isVinit {
			src, hdr.Size, hdr.Mode, hdr.Uid, hdr.Gid = vinit, vfi.Size(), 0o755, 0, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		if n, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		} else if n != hdr.Size {
			return fmt.Errorf("%s: changed size while exported", src)
		}
		return nil
	})
}

// guestFile resolves the path p as the guest would, inside rootfs
// (RESOLVE_IN_ROOT: absolute links are relative to it), and returns the
// real path relative to rootfs. It must name a regular file.
func guestFile(rootfs, p string) (string, error) {
	rootfd, err := unix.Open(rootfs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(rootfd)
	fd, err := unix.Openat2(rootfd, p, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return "", &os.PathError{Op: "openat2", Path: p, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return "", fmt.Errorf("%s is a %s, want a regular file", p, fileType(st.Mode))
	}
	real, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	absRoot, err := filepath.EvalSymlinks(rootfs)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(absRoot, real)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%s resolves to %s, outside the image", p, real)
	}
	return rel, nil
}
