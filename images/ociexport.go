package images

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// OCIImageOptions adjust ExportOCIImage.
type OCIImageOptions struct {
	// Vinit is the vinit binary installed as /sbin/vinit, the image's
	// entrypoint. It must be statically linked (CGO_ENABLED=0). Required.
	Vinit string
	// Ref is the image's name in the layout's index.json
	// (org.opencontainers.image.ref.name); default "latest".
	Ref string
}

// ExportOCIImage writes image name as an OCI image: an image layout
// directory at dst, or, if dst ends in ".tar", a tar of one (what
// `podman load` and `skopeo copy oci-archive:` read). The image has one
// gzip layer, the image's rootfs with opt.Vinit as /sbin/vinit, and a
// config whose entrypoint is /sbin/vinit, so the vserver's units run
// under any OCI runtime as they do under vhost. dst must not exist; the
// image is assembled next to it and renamed into place, so a failed export
// leaves nothing.
func (s *Store) ExportOCIImage(name, dst string, opt OCIImageOptions) error {
	img, err := s.Get(name)
	if err != nil {
		return err
	}
	if err := checkVinit(name, opt.Vinit); err != nil {
		return err
	}
	if opt.Ref == "" {
		opt.Ref = "latest"
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("export image %q: %s: %w", name, dst, os.ErrExist)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dst)), ".oci-"+name+"-")
	if err != nil {
		return fmt.Errorf("export image %q: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	layout := filepath.Join(tmp, "layout")
	if err := writeLayout(img, layout, opt); err != nil {
		return fmt.Errorf("export image %q: %w", name, err)
	}
	from := layout
	if strings.HasSuffix(dst, ".tar") {
		from = filepath.Join(tmp, "layout.tar")
		if err := tarLayout(from, layout); err != nil {
			return fmt.Errorf("export image %q: %w", name, err)
		}
	}
	if err := renameNoReplace(from, dst); err != nil {
		return fmt.Errorf("export image %q: %w", name, err)
	}
	s.log.Info("exported image as an OCI image", "name", name, "dst", dst)
	return nil
}

// writeLayout writes the image layout of img to the new directory dir.
func writeLayout(img *Image, dir string, opt OCIImageOptions) error {
	blobs := filepath.Join(dir, ocispec.ImageBlobsDir, "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	layer, diffID, err := writeLayer(blobs, img.Rootfs, opt.Vinit)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	arch := img.Manifest.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	created := time.Now().UTC().Truncate(time.Second)
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: arch, OS: "linux"},
		Config: ocispec.ImageConfig{
			Entrypoint: []string{VinitPath},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "container=vserver"},
			WorkingDir: "/",
			Labels:     map[string]string{"org.vservers.image": img.Name, "org.vservers.source": img.Manifest.Source},
			StopSignal: "SIGTERM",
		},
		RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History: []ocispec.History{{Created: &created, CreatedBy: "vhost image export " + img.Name, Comment: img.Manifest.Source}},
	}
	cfgDesc, err := writeJSONBlob(blobs, ocispec.MediaTypeImageConfig, cfg)
	if err != nil {
		return err
	}
	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    []ocispec.Descriptor{layer},
	}
	manDesc, err := writeJSONBlob(blobs, ocispec.MediaTypeImageManifest, man)
	if err != nil {
		return err
	}
	manDesc.Annotations = map[string]string{ocispec.AnnotationRefName: opt.Ref}
	manDesc.Platform = &cfg.Platform
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manDesc},
	}
	if err := writeJSONFile(filepath.Join(dir, ocispec.ImageIndexFile), idx); err != nil {
		return err
	}
	return writeJSONFile(filepath.Join(dir, ocispec.ImageLayoutFile), ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
}

func writeJSONFile(p string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

// writeJSONBlob stores v as a blob and returns its descriptor.
func writeJSONBlob(blobs, mediaType string, v any) (ocispec.Descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d := digest.FromBytes(b)
	if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), b, 0o644); err != nil {
		return ocispec.Descriptor{}, err
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}, nil
}

// hashWriter counts and hashes what goes through it.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// writeLayer writes the rootfs as a gzip layer blob into blobs and returns
// its descriptor and the digest of the uncompressed tar.
func writeLayer(blobs, rootfs, vinit string) (ocispec.Descriptor, digest.Digest, error) {
	f, err := os.CreateTemp(blobs, ".layer-")
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	defer func() {
		f.Close()
		os.Remove(f.Name()) // renamed by then on success
	}()
	compressed := &hashWriter{w: f, h: sha256.New()}
	zw := gzip.NewWriter(compressed)
	plain := &hashWriter{w: zw, h: sha256.New()}
	tw := tar.NewWriter(plain)
	if err := tarTree(tw, rootfs, vinit); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := tw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := zw.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := f.Chmod(0o644); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	if err := f.Close(); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	d := digest.NewDigest(digest.SHA256, compressed.h)
	if err := os.Rename(f.Name(), filepath.Join(blobs, d.Encoded())); err != nil {
		return ocispec.Descriptor{}, "", err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: compressed.n}
	return desc, digest.NewDigest(digest.SHA256, plain.h), nil
}

// tarLayout writes the layout directory dir as the tar file dst.
func tarLayout(dst, dir string) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = tw.AddFS(os.DirFS(dir))
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
