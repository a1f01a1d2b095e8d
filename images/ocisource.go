package images

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MainUnit is the unit an OCI import writes from the image's config,
// relative to the rootfs.
const MainUnit = "etc/vinit/units/main.yaml"

// VinitPath is where the guest finds vinit: an image exported by vhost
// names it as its entrypoint.
const VinitPath = "/sbin/vinit"

// Media types of Docker's image format, which docker save and older
// registries use besides the OCI ones.
const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerConfig       = "application/vnd.docker.container.image.v1+json"
	dockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	dockerLayerForeign = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// maxJSON bounds the JSON documents (index, manifests, config) read from an
// untrusted image; real ones are a few kilobytes.
const maxJSON = 4 << 20

// ociFiles is the file tree of an OCI image layout or a docker save archive:
// a directory, or a plain tar read in place.
type ociFiles interface {
	// open opens the regular file at the slash-separated path name.
	open(name string) (io.ReadCloser, error)
	exists(name string) bool
	Close() error
}

// dirFiles serves a directory through os.Root: a symbolic link in it
// cannot lead outside.
type dirFiles struct{ root *os.Root }

func (d dirFiles) open(name string) (io.ReadCloser, error) {
	f, err := d.root.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	return f, nil
}

func (d dirFiles) exists(name string) bool {
	_, err := d.root.Lstat(name)
	return err == nil
}

func (d dirFiles) Close() error { return d.root.Close() }

// tarFiles serves the regular files of a plain tar archive from where they
// lie in it, without unpacking it. Symbolic and hard links between entries
// (docker save links repeated layers) are followed inside the archive only.
type tarFiles struct {
	f     *os.File
	files map[string]tarEntry
	links map[string]string // name -> target name, both cleaned
}

type tarEntry struct{ off, size int64 }

// archivePath cleans a name from an archive: relative, no "./", and no ".."
// (false if it would leave the archive).
func archivePath(name string) (string, bool) {
	if slices.Contains(strings.Split(name, "/"), "..") {
		return "", false
	}
	p := path.Clean("/" + name)[1:]
	return p, p != ""
}

func openTarFiles(file string) (*tarFiles, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	t := &tarFiles{f: f, files: map[string]tarEntry{}, links: map[string]string{}}
	// archive/tar seeks f past each entry's data and reads no further than
	// a header, so after Next the offset of f is where the data starts.
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read archive %s: %w", file, err)
		}
		name, ok := archivePath(hdr.Name)
		if !ok {
			continue // never asked for: names are looked up, not trusted
		}
		if _, dup := t.files[name]; dup {
			f.Close()
			return nil, fmt.Errorf("read archive %s: %s appears twice", file, name)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("read archive %s: %w", file, err)
			}
			t.files[name] = tarEntry{off, hdr.Size}
		case tar.TypeSymlink:
			// Resolved against the link's directory; a target above the
			// archive's top leads nowhere.
			j := path.Join(path.Dir(name), hdr.Linkname)
			if !path.IsAbs(hdr.Linkname) && j != ".." && !strings.HasPrefix(j, "../") {
				t.links[name] = j
			}
		case tar.TypeLink:
			if target, ok := archivePath(hdr.Linkname); ok {
				t.links[name] = target
			}
		}
	}
}

func (t *tarFiles) lookup(name string) (tarEntry, bool) {
	for range 16 { // link hops
		if e, ok := t.files[name]; ok {
			return e, true
		}
		next, ok := t.links[name]
		if !ok {
			return tarEntry{}, false
		}
		name = next
	}
	return tarEntry{}, false
}

func (t *tarFiles) open(name string) (io.ReadCloser, error) {
	e, ok := t.lookup(name)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return io.NopCloser(io.NewSectionReader(t.f, e.off, e.size)), nil
}

func (t *tarFiles) exists(name string) bool {
	_, ok := t.lookup(name)
	return ok
}

func (t *tarFiles) Close() error { return t.f.Close() }

// openOCIFiles opens the image at p: a directory, or a plain tar.
func openOCIFiles(p string) (ociFiles, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		r, err := os.OpenRoot(p)
		if err != nil {
			return nil, err
		}
		return dirFiles{r}, nil
	}
	return openTarFiles(p)
}

// isOCIFiles tells an OCI layout or docker save archive from a rootfs.
func isOCIFiles(f ociFiles) bool {
	return f.exists(ocispec.ImageLayoutFile) && f.exists(ocispec.ImageIndexFile) || f.exists("manifest.json")
}

// IsOCI reports whether p is an OCI image (an image layout directory, a tar
// of one, or a docker save archive) rather than a rootfs tarball. A
// compressed file is never one: OCI archives are plain tar.
func IsOCI(p string) (bool, error) {
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		f, err := os.Open(p)
		if err != nil {
			return false, err
		}
		head := make([]byte, 4)
		n, _ := io.ReadFull(f, head)
		f.Close()
		if head = head[:n]; len(head) < 2 || string(head[:2]) == string(gzipMagic) || string(head) == string(zstdMagic) {
			return false, nil
		}
	}
	f, err := openOCIFiles(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return isOCIFiles(f), nil
}

// ociLayer is one layer to apply: its blob and the digest of its
// uncompressed tar (the config's diff_id).
type ociLayer struct {
	path   string
	blob   digest.Digest // "" if the archive does not name it (old docker save)
	size   int64         // -1 if unknown
	diffID digest.Digest
}

// ociImage is what an import takes from an image: its layers, in order,
// and its config, all verified against their digests but the layer blobs,
// which are verified as they are applied.
type ociImage struct {
	ref      string // the reference it was chosen by, for the manifest's source
	manifest digest.Digest
	config   ocispec.Image
	layers   []ociLayer
}

func blobPath(d digest.Digest) string {
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// readVerified reads the blob of desc, refusing it unless its size and
// digest are the descriptor's.
func readVerified(f ociFiles, desc ocispec.Descriptor) ([]byte, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("descriptor digest %q: %w", desc.Digest, err)
	}
	if desc.Size < 0 || desc.Size > maxJSON {
		return nil, fmt.Errorf("blob %s: size %d out of bounds", desc.Digest, desc.Size)
	}
	r, err := f.open(blobPath(desc.Digest))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, desc.Size+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	if int64(len(b)) != desc.Size {
		return nil, fmt.Errorf("blob %s: size %d, the descriptor says %d", desc.Digest, len(b), desc.Size)
	}
	if got := desc.Digest.Algorithm().FromBytes(b); got != desc.Digest {
		return nil, fmt.Errorf("blob %s: content has digest %s", desc.Digest, got)
	}
	return b, nil
}

func readJSON(f ociFiles, name string, v any) error {
	r, err := f.open(name)
	if err != nil {
		return err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxJSON+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxJSON {
		return fmt.Errorf("%s: larger than %d bytes", name, maxJSON)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
}

// resolveOCI finds the image to import in f, choosing by ref among several.
func resolveOCI(f ociFiles, ref string) (*ociImage, error) {
	if f.exists(ocispec.ImageIndexFile) {
		return resolveLayout(f, ref)
	}
	if f.exists("manifest.json") {
		return resolveDockerArchive(f, ref)
	}
	return nil, errors.New("neither an OCI image layout (index.json) nor a docker save archive (manifest.json)")
}

func resolveLayout(f ociFiles, ref string) (*ociImage, error) {
	var layout ocispec.ImageLayout
	if err := readJSON(f, ocispec.ImageLayoutFile, &layout); err != nil {
		return nil, err
	}
	if layout.Version != ocispec.ImageLayoutVersion {
		return nil, fmt.Errorf("image layout version %q, want %q", layout.Version, ocispec.ImageLayoutVersion)
	}
	var idx ocispec.Index
	if err := readJSON(f, ocispec.ImageIndexFile, &idx); err != nil {
		return nil, err
	}
	// The top-level index names images by ref.name; nested indexes
	// (multi-platform images) choose by platform.
	var cands []ocispec.Descriptor
	var names []string
	for _, d := range idx.Manifests {
		n := d.Annotations[ocispec.AnnotationRefName]
		names = append(names, n)
		if ref == "" || n == ref {
			cands = append(cands, d)
		}
	}
	switch {
	case len(cands) == 0 && ref != "":
		return nil, fmt.Errorf("no image %q in index.json (it has %q)", ref, names)
	case len(cands) == 0:
		return nil, errors.New("index.json lists no image")
	case len(cands) > 1:
		return nil, fmt.Errorf("index.json lists %d images (%q): choose one by its ref name", len(cands), names)
	}
	desc := cands[0]
	for depth := 0; ; depth++ {
		if depth == 4 {
			return nil, errors.New("indexes nested too deep")
		}
		switch desc.MediaType {
		case ocispec.MediaTypeImageManifest, dockerManifest:
			img, err := readOCIManifest(f, desc)
			if err != nil {
				return nil, err
			}
			img.ref = cands[0].Annotations[ocispec.AnnotationRefName]
			return img, nil
		case ocispec.MediaTypeImageIndex, dockerManifestList:
			b, err := readVerified(f, desc)
			if err != nil {
				return nil, err
			}
			var sub ocispec.Index
			if err := json.Unmarshal(b, &sub); err != nil {
				return nil, fmt.Errorf("parse index %s: %w", desc.Digest, err)
			}
			next, err := pickPlatform(sub.Manifests)
			if err != nil {
				return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
			}
			desc = next
		default:
			return nil, fmt.Errorf("%s: unsupported media type %q", desc.Digest, desc.MediaType)
		}
	}
}

// pickPlatform chooses the manifest for linux on this machine's
// architecture.
func pickPlatform(ds []ocispec.Descriptor) (ocispec.Descriptor, error) {
	var have []string
	for _, d := range ds {
		p := d.Platform
		if p == nil {
			continue
		}
		have = append(have, p.OS+"/"+p.Architecture)
		if p.OS == "linux" && p.Architecture == runtime.GOARCH {
			return d, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("no image for linux/%s (it has %q)", runtime.GOARCH, have)
}

// layerTypes are the layer media types an import applies. The
// non-distributable ones are deprecated (image-spec #965) but still found
// in the wild; spelled out to keep staticcheck quiet about the constants.
var layerTypes = []string{
	ocispec.MediaTypeImageLayer, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd,
	"application/vnd.oci.image.layer.nondistributable.v1.tar",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
	dockerLayerGzip, dockerLayerForeign,
}

func readOCIManifest(f ociFiles, desc ocispec.Descriptor) (*ociImage, error) {
	b, err := readVerified(f, desc)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", desc.Digest, err)
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig && m.Config.MediaType != dockerConfig {
		return nil, fmt.Errorf("manifest %s: config media type %q is not an image config", desc.Digest, m.Config.MediaType)
	}
	cb, err := readVerified(f, m.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	img := &ociImage{manifest: desc.Digest}
	if err := json.Unmarshal(cb, &img.config); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", m.Config.Digest, err)
	}
	if err := checkDiffIDs(img.config, len(m.Layers)); err != nil {
		return nil, err
	}
	for i, l := range m.Layers {
		if !slices.Contains(layerTypes, l.MediaType) {
			return nil, fmt.Errorf("layer %d: unsupported media type %q", i, l.MediaType)
		}
		if err := l.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("layer %d: digest %q: %w", i, l.Digest, err)
		}
		img.layers = append(img.layers, ociLayer{
			path: blobPath(l.Digest), blob: l.Digest, size: l.Size, diffID: img.config.RootFS.DiffIDs[i],
		})
	}
	return img, nil
}

// checkDiffIDs makes sure the config names a valid uncompressed digest for
// each of the n layers: every layer is verified against it.
func checkDiffIDs(c ocispec.Image, n int) error {
	if len(c.RootFS.DiffIDs) != n {
		return fmt.Errorf("config lists %d layer digests (rootfs.diff_ids) for %d layers", len(c.RootFS.DiffIDs), n)
	}
	for i, d := range c.RootFS.DiffIDs {
		if err := d.Validate(); err != nil {
			return fmt.Errorf("config: rootfs.diff_ids[%d] %q: %w", i, d, err)
		}
	}
	return nil
}

// dockerEntry is one image of a docker save archive's manifest.json.
type dockerEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func resolveDockerArchive(f ociFiles, ref string) (*ociImage, error) {
	var entries []dockerEntry
	if err := readJSON(f, "manifest.json", &entries); err != nil {
		return nil, err
	}
	var cands []dockerEntry
	var tags []string
	for _, e := range entries {
		tags = append(tags, e.RepoTags...)
		if ref == "" || slices.Contains(e.RepoTags, ref) {
			cands = append(cands, e)
		}
	}
	switch {
	case len(cands) == 0 && ref != "":
		return nil, fmt.Errorf("no image %q in manifest.json (it has %q)", ref, tags)
	case len(cands) == 0:
		return nil, errors.New("manifest.json lists no image")
	case len(cands) > 1:
		return nil, fmt.Errorf("manifest.json lists %d images (%q): choose one by its tag", len(cands), tags)
	}
	e := cands[0]
	// The config is named by its digest (ID.json in the old format,
	// blobs/sha256/ID in the new): that is how it is verified.
	cp, ok := archivePath(e.Config)
	if !ok {
		return nil, fmt.Errorf("manifest.json: bad config path %q", e.Config)
	}
	id := strings.TrimSuffix(path.Base(cp), ".json")
	d := digest.NewDigestFromEncoded(digest.SHA256, id)
	if d.Validate() != nil {
		return nil, fmt.Errorf("manifest.json: config %q is not named by its sha256 digest, so it cannot be verified", e.Config)
	}
	r, err := f.open(cp)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cb, err := io.ReadAll(io.LimitReader(r, maxJSON+1))
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if got := digest.FromBytes(cb); got != d {
		return nil, fmt.Errorf("config %s: content has digest %s", e.Config, got)
	}
	img := &ociImage{manifest: d}
	if len(e.RepoTags) > 0 {
		img.ref = e.RepoTags[0]
	}
	if err := json.Unmarshal(cb, &img.config); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", e.Config, err)
	}
	if err := checkDiffIDs(img.config, len(e.Layers)); err != nil {
		return nil, err
	}
	for i, l := range e.Layers {
		lp, ok := archivePath(l)
		if !ok {
			return nil, fmt.Errorf("manifest.json: bad layer path %q", l)
		}
		img.layers = append(img.layers, ociLayer{path: lp, size: -1, diffID: img.config.RootFS.DiffIDs[i]})
	}
	return img, nil
}

// verifier passes a stream through and fails it at its end unless its
// digest is want (and its length size, when size >= 0).
type verifier struct {
	r    io.Reader
	want digest.Digest
	size int64
	n    int64
	v    digest.Verifier
}

func newVerifier(r io.Reader, want digest.Digest, size int64) *verifier {
	return &verifier{r: r, want: want, size: size, v: want.Verifier()}
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.v.Write(p[:n])
	if v.size >= 0 && v.n > v.size {
		return n, fmt.Errorf("blob %s: longer than its %d bytes", v.want, v.size)
	}
	if err == io.EOF {
		if v.size >= 0 && v.n != v.size {
			return n, fmt.Errorf("blob %s: %d bytes, the descriptor says %d", v.want, v.n, v.size)
		}
		if !v.v.Verified() {
			return n, fmt.Errorf("content of %s does not match its digest", v.want)
		}
	}
	return n, err
}
