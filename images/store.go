package images

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Names of the store's own entries; image names never start with a dot.
const (
	lockFile      = ".lock"
	stagingPrefix = ".staging-"
	removePrefix  = ".removing-"
)

// Store is a directory of images, usually /var/lib/vhost/images under the
// vhost root. Its methods are safe for concurrent use by several processes.
type Store struct {
	dir string
	log *slog.Logger
}

// Image is one image in a store.
type Image struct {
	Name     string   `json:"name"`
	Dir      string   `json:"dir"`    // STORE/NAME
	Rootfs   string   `json:"rootfs"` // STORE/NAME/rootfs
	Manifest Manifest `json:"manifest"`
}

// Open returns the store at dir. It touches nothing: the directory is
// created by the first build or import. A nil log discards messages.
func Open(dir string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{dir: dir, log: log}
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) image(name string) *Image {
	d := filepath.Join(s.dir, name)
	return &Image{Name: name, Dir: d, Rootfs: filepath.Join(d, "rootfs")}
}

// Get returns the image called name, or an error wrapping ErrNotExist.
func (s *Store) Get(name string) (*Image, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	img := s.image(name)
	fi, err := os.Stat(img.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("image %q: %w", name, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", name, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("image %q: %s is not a directory", name, img.Dir)
	}
	m, err := readManifest(filepath.Join(img.Dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", name, err)
	}
	img.Manifest = m
	return img, nil
}

// List returns the store's images sorted by name. An image it cannot read
// is left out and its error joined into the returned error, so one broken
// image does not hide the others. A store that does not exist yet is empty.
func (s *Store) List() ([]*Image, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var imgs []*Image
	var errs []error
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || ValidName(e.Name()) != nil {
			continue
		}
		img, err := s.Get(e.Name())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		imgs = append(imgs, img)
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Name < imgs[j].Name })
	return imgs, errors.Join(errs...)
}

// RemoveOptions adjust Remove.
type RemoveOptions struct {
	// InUse, if set, is asked before anything is removed; true makes Remove
	// fail with ErrInUse. The vserver side passes a check of its configs.
	InUse func(name string) bool
}

// Remove deletes the image called name. The image disappears from the store
// atomically (it is renamed aside first), then its files are deleted.
// Remove refuses an image that has anything mounted below it.
func (s *Store) Remove(name string, opt RemoveOptions) error {
	if err := ValidName(name); err != nil {
		return err
	}
	// No manifest needed: a broken image must stay removable.
	img := s.image(name)
	if _, err := os.Lstat(img.Dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("image %q: %w", name, ErrNotExist)
	} else if err != nil {
		return fmt.Errorf("remove image %q: %w", name, err)
	}
	if opt.InUse != nil && opt.InUse(name) {
		return fmt.Errorf("remove image %q: %w", name, ErrInUse)
	}
	if m, err := mountsBelow(img.Dir); err != nil {
		return fmt.Errorf("remove image %q: %w", name, err)
	} else if len(m) > 0 {
		return fmt.Errorf("remove image %q: %w: %s is mounted", name, ErrInUse, m[0])
	}
	unlock, err := s.lock(false)
	if err != nil {
		return err
	}
	defer unlock()
	aside := filepath.Join(s.dir, removePrefix+name+"-"+rand.Text())
	if err := renameNoReplace(img.Dir, aside); err != nil {
		return fmt.Errorf("remove image %q: %w", name, err)
	}
	if err := os.RemoveAll(aside); err != nil {
		return fmt.Errorf("remove image %q: delete %s: %w", name, aside, err)
	}
	s.log.Info("removed image", "name", name)
	return nil
}

// Clean deletes what interrupted builds, imports and removals left behind:
// staging directories and renamed-aside images. It does nothing while any
// build, import or removal is running (they hold the store's lock shared).
// Builds and imports call it first.
func (s *Store) Clean() error {
	unlock, ok, err := s.tryLockExclusive()
	if err != nil || !ok {
		return err
	}
	defer unlock()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("clean image store: %w", err)
	}
	var errs []error
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, stagingPrefix) && !strings.HasPrefix(n, removePrefix) {
			continue
		}
		p := filepath.Join(s.dir, n)
		// Never delete through a mount a killed builder left behind.
		if m, err := mountsBelow(p); err != nil || len(m) > 0 {
			errs = append(errs, fmt.Errorf("clean image store: %s has mounts below it (%v), not removing it", p, err))
			continue
		}
		s.log.Info("removing leftover of an interrupted build", "dir", p)
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("clean image store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// staging is an image being built: a directory inside the store that
// commit renames to its name. The store's lock is held shared meanwhile.
type staging struct {
	s      *Store
	name   string
	dir    string // STORE/.staging-NAME-RANDOM
	rootfs string // dir/rootfs
	unlock func()
}

// testHookBeforeCommit, if set, runs after an image is staged and before it
// is renamed into place; an error aborts the build.
var testHookBeforeCommit func(stagingDir string) error

// stage starts building image name: ErrExist if it exists, else a fresh
// staging directory with an empty rootfs.
func (s *Store) stage(name string) (*staging, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(filepath.Join(s.dir, name)); err == nil {
		return nil, fmt.Errorf("image %q: %w", name, ErrExist)
	}
	// 0700: an imported rootfs may hold setuid binaries, and host users
	// must not reach them.
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create image store: %w", err)
	}
	if err := s.Clean(); err != nil {
		s.log.Warn("could not clean image store", "err", err)
	}
	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(s.dir, stagingPrefix+name+"-")
	if err != nil {
		unlock()
		return nil, fmt.Errorf("stage image %q: %w", name, err)
	}
	st := &staging{s: s, name: name, dir: dir, rootfs: filepath.Join(dir, "rootfs"), unlock: unlock}
	if err := os.Chmod(dir, 0o755); err != nil {
		st.abort()
		return nil, fmt.Errorf("stage image %q: %w", name, err)
	}
	if err := os.Mkdir(st.rootfs, 0o755); err != nil {
		st.abort()
		return nil, fmt.Errorf("stage image %q: %w", name, err)
	}
	return st, nil
}

// commit writes the manifest and renames the staging directory to the
// image's name; on failure the staging directory is gone.
func (st *staging) commit(m Manifest) (*Image, error) {
	defer st.unlock()
	m.Name = st.name
	if err := writeManifest(filepath.Join(st.dir, ManifestFile), m); err != nil {
		st.removeDir()
		return nil, fmt.Errorf("image %q: %w", st.name, err)
	}
	if h := testHookBeforeCommit; h != nil {
		if err := h(st.dir); err != nil {
			st.removeDir()
			return nil, fmt.Errorf("image %q: %w", st.name, err)
		}
	}
	if err := syncDir(st.dir); err != nil {
		st.removeDir()
		return nil, fmt.Errorf("image %q: %w", st.name, err)
	}
	img := st.s.image(st.name)
	if err := renameNoReplace(st.dir, img.Dir); err != nil {
		st.removeDir()
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("image %q: %w", st.name, ErrExist)
		}
		return nil, fmt.Errorf("image %q: %w", st.name, err)
	}
	img.Manifest = m
	st.s.log.Info("created image", "name", st.name, "source", m.Source)
	return img, nil
}

func (st *staging) abort() {
	st.removeDir()
	st.unlock()
}

func (st *staging) removeDir() {
	if err := os.RemoveAll(st.dir); err != nil {
		st.s.log.Warn("could not remove staging directory", "dir", st.dir, "err", err)
	}
}

// copyFile copies the regular file src to dst, created with mode perm.
func copyFile(dst, src string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Chmod(perm); err != nil { // the umask applied at create
		out.Close()
		return err
	}
	return out.Close()
}
