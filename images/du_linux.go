package images

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Usage is the disk space a tree of files takes.
type Usage struct {
	Bytes    int64 `json:"bytes"`    // allocated on disk (st_blocks × 512), as du(1) reports
	Apparent int64 `json:"apparent"` // sum of file sizes, as du --apparent-size reports
	Inodes   int64 `json:"inodes"`   // files, directories and links, each hard-linked inode once
}

// DiskUsage adds up the tree at root like du -sx: each inode is counted
// once however many hard links it has, and mount points below root (other
// filesystems) are neither entered nor counted.
func DiskUsage(root string) (Usage, error) {
	var u Usage
	fi, err := os.Lstat(root)
	if err != nil {
		return u, fmt.Errorf("disk usage: %w", err)
	}
	rootDev := fi.Sys().(*syscall.Stat_t).Dev
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Dev != rootDev {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			k := inode{uint64(st.Dev), uint64(st.Ino)}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		u.Bytes += st.Blocks * 512
		u.Apparent += st.Size
		u.Inodes++
		return nil
	})
	if err != nil {
		return u, fmt.Errorf("disk usage of %s: %w", root, err)
	}
	return u, nil
}

// DiskUsage returns the space image name takes (its rootfs and manifest).
func (s *Store) DiskUsage(name string) (Usage, error) {
	img, err := s.Get(name)
	if err != nil {
		return Usage{}, err
	}
	return DiskUsage(img.Dir)
}
