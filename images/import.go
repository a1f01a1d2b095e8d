package images

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
)

// ImportOptions adjust Import.
type ImportOptions struct {
	// AllowDevices lets the archive create character and block device
	// nodes. They are refused by default: a device node in an image would
	// let whoever can reach it open the host's device.
	AllowDevices bool
	// Source is recorded in the manifest; default "tar FILE" for a rootfs
	// tarball, "oci FILE REF@DIGEST" for an OCI image.
	Source string
	// Ref chooses the image of an OCI layout or docker save archive that
	// holds several: its org.opencontainers.image.ref.name annotation, or
	// its docker tag (RepoTags). Ignored for rootfs tarballs.
	Ref string
}

// ImportFile imports the rootfs tarball at path (plain, gzip or zstd,
// recognised by content) as image name. See Import.
func (s *Store) ImportFile(name, path string, opt ImportOptions) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("import image %q: %w", name, err)
	}
	defer f.Close()
	if opt.Source == "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			abs = path
		}
		opt.Source = "tar " + abs
	}
	return s.Import(name, f, opt)
}

// Import unpacks the rootfs tarball read from r (plain, gzip or zstd) as
// image name. The archive is untrusted: an entry whose path has a ".."
// component, resolves through a symbolic link to outside the rootfs, or
// hard-links to outside it fails the import, and so do device nodes unless
// opt.AllowDevices. Leading "/" are stripped, as GNU tar does. Owners
// (numeric uid/gid), modes including setuid bits, and modification times are
// kept; extended attributes are not. A failed import leaves nothing behind.
// Import needs root to set owners.
func (s *Store) Import(name string, r io.Reader, opt ImportOptions) (*Image, error) {
	if opt.Source == "" {
		opt.Source = "tar"
	}
	st, err := s.stage(name)
	if err != nil {
		return nil, err
	}
	arch, err := extractArchive(st.rootfs, r, opt)
	if err != nil {
		st.abort()
		return nil, fmt.Errorf("import image %q: %w", name, err)
	}
	return st.commit(Manifest{
		Created: time.Now().UTC().Truncate(time.Second),
		Source:  opt.Source,
		Arch:    arch,
	})
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress returns r's content, decompressed if it starts with a gzip or
// zstd header.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(4) // a short archive is a tar error later
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}
