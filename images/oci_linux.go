package images

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteout names of the OCI layer format.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."     // aufs bookkeeping; skipped
	whiteoutOpaque = ".wh..wh..opq" // the directory hides what lower layers put in it
)

// ImportOCI imports the OCI image at p as image name. p is an OCI image
// layout directory, a plain tar of one, or a docker save archive; opt.Ref
// chooses among several images by ref name or tag (a multi-platform index
// is resolved to linux on this machine's architecture).
//
// Every blob is verified: the index's manifest, the manifest's config and
// layers against their sha256 (or sha512) digests and sizes, and each
// layer's uncompressed tar against the config's diff_id (the only check a
// docker save archive allows for its layers). Layers are applied in order
// with the hardened unpacker of Import (nothing lands outside the rootfs),
// honouring whiteouts (.wh.NAME removes NAME from lower layers) and opaque
// directories (.wh..wh..opq). The config's process becomes the unit
// /etc/vinit/units/main.yaml (see the package's docs/images.md). A failed
// import leaves nothing behind.
func (s *Store) ImportOCI(name, p string, opt ImportOptions) (*Image, error) {
	files, err := openOCIFiles(p)
	if err != nil {
		return nil, fmt.Errorf("import image %q: %w", name, err)
	}
	defer files.Close()
	oi, err := resolveOCI(files, opt.Ref)
	if err != nil {
		return nil, fmt.Errorf("import image %q from %s: %w", name, p, err)
	}
	if opt.Source == "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = p
		}
		opt.Source = "oci " + abs
		if oi.ref != "" {
			opt.Source += " " + oi.ref
		}
		opt.Source += "@" + oi.manifest.String()
	}
	unit, err := mainUnit(oi.config.Config, opt.Source)
	if err != nil {
		return nil, fmt.Errorf("import image %q: %w", name, err)
	}
	st, err := s.stage(name)
	if err != nil {
		return nil, err
	}
	arch, err := unpackOCI(st.rootfs, files, oi, unit, opt)
	if err != nil {
		st.abort()
		return nil, fmt.Errorf("import image %q from %s: %w", name, p, err)
	}
	return st.commit(Manifest{
		Created: time.Now().UTC().Truncate(time.Second),
		Source:  opt.Source,
		Arch:    arch,
	})
}

// unpackOCI applies the image's layers to the empty directory root and
// writes its main unit; it returns the image's architecture.
func unpackOCI(root string, files ociFiles, oi *ociImage, unit []byte, opt ImportOptions) (arch string, err error) {
	rootfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(rootfd)
	x := &extractor{root: rootfd, opt: opt}
	for i, l := range oi.layers {
		if err := x.applyLayerFile(files, l); err != nil {
			return "", fmt.Errorf("layer %d (%s): %w", i, l.path, err)
		}
	}
	if err := x.prepare(); err != nil {
		return "", err
	}
	if wd := oi.config.Config.WorkingDir; wd != "" && unit != nil {
		if err := x.mkdirAll(path.Clean("/" + wd)[1:]); err != nil {
			return "", fmt.Errorf("working directory %s: %w", wd, err)
		}
	}
	if unit != nil {
		if err := x.writeNew(MainUnit, unit, 0o644); err != nil {
			return "", fmt.Errorf("write /%s: %w", MainUnit, err)
		}
	}
	if arch = oi.config.Architecture; arch == "" {
		arch = rootArch(rootfd)
	}
	return arch, nil
}

// applyLayerFile applies one layer blob, verifying it on the way.
func (x *extractor) applyLayerFile(files ociFiles, l ociLayer) error {
	rc, err := files.open(l.path)
	if err != nil {
		return err
	}
	defer rc.Close()
	var blob io.Reader = rc
	if l.blob != "" {
		blob = newVerifier(rc, l.blob, l.size)
	}
	dr, done, err := decompress(blob)
	if err != nil {
		return err
	}
	defer done()
	tarStream := newVerifier(dr, l.diffID, -1)
	if err := x.applyLayer(tarStream); err != nil {
		return err
	}
	// The tar ends before its stream does (padding, the compressor's
	// trailer): read both to the end, where they are verified.
	if _, err := io.Copy(io.Discard, tarStream); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, blob); err != nil {
		return err
	}
	return nil
}

// applyLayer unpacks one uncompressed layer tar over what the lower layers
// left.
func (x *extractor) applyLayer(r io.Reader) error {
	x.layer = map[string]bool{}
	defer func() { x.layer = nil }()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("tar entry %q: %w", hdr.Name, err)
		}
	}
	return x.finishDirs()
}

// whiteout handles p if it is a whiteout and reports whether it was one.
// Whiteouts only hide what lower layers made: an entry of the same layer
// stays, whatever the order of the two in the tar.
func (x *extractor) whiteout(p string) (bool, error) {
	dir, base := path.Split(p)
	if !strings.HasPrefix(base, whiteoutPrefix) {
		return false, nil
	}
	if dir = strings.TrimSuffix(dir, "/"); dir == "" {
		dir = "."
	}
	switch {
	case base == whiteoutOpaque:
		fd, err := x.openBeneath(dir)
		if errors.Is(err, unix.ENOENT) {
			return true, nil // nothing below to hide
		}
		if err != nil {
			return true, err
		}
		defer unix.Close(fd)
		return true, x.prune(fd, dir)
	case strings.HasPrefix(base, whiteoutMeta):
		return true, nil
	}
	target := path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
	if x.layer[target] {
		return true, nil
	}
	fd, err := x.openBeneath(dir)
	if errors.Is(err, unix.ENOENT) {
		return true, nil
	}
	if err != nil {
		return true, err
	}
	defer unix.Close(fd)
	return true, removeAllAt(fd, path.Base(target))
}

// prune removes from the directory fd (at dir) everything the current
// layer did not create, descending into the directories it did.
func (x *extractor) prune(fd int, dir string) error {
	names, err := readDirNames(fd)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := path.Join(dir, n)
		if !x.layer[p] {
			if err := removeAllAt(fd, n); err != nil {
				return err
			}
			continue
		}
		cfd, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.ENOTDIR || err == unix.ELOOP {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "openat", Path: p, Err: err}
		}
		err = x.prune(cfd, p)
		unix.Close(cfd)
		if err != nil {
			return err
		}
	}
	return nil
}

// readDirNames lists the directory fd without moving or closing fd.
func readDirNames(fd int) ([]string, error) {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "openat", Path: ".", Err: err}
	}
	f := os.NewFile(uintptr(dfd), "dir")
	defer f.Close()
	return f.Readdirnames(-1)
}

// removeAllAt removes name in the directory pfd and, if it is a
// directory, everything below it, never following a symbolic link. A
// missing name is not an error.
func removeAllAt(pfd int, name string) error {
	err := unix.Unlinkat(pfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return &os.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "openat", Path: name, Err: err}
	}
	names, err := readDirNames(fd)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(pfd, name, unix.AT_REMOVEDIR); err != nil {
		return &os.PathError{Op: "rmdir", Path: name, Err: err}
	}
	return nil
}

// mkdirAll makes the directory p (relative to the root, resolved beneath
// it) and its parents, mode 0755, owned by root.
func (x *extractor) mkdirAll(p string) error {
	if p == "" || p == "." {
		return nil
	}
	pfd, base, err := x.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, 0o755); err != nil && err != unix.EEXIST {
		return &os.PathError{Op: "mkdirat", Path: p, Err: err}
	}
	return nil
}

// writeNew creates the file p (relative to the root, resolved beneath it)
// with data; it fails if p exists.
func (x *extractor) writeNew(p string, data []byte, mode uint32) error {
	pfd, base, err := x.parent(p)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err == unix.EEXIST {
		return errors.New("the image has one already")
	}
	if err != nil {
		return &os.PathError{Op: "openat", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(os.FileMode(mode)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
