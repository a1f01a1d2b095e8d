package images

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// ManifestFile is the manifest's name inside an image directory.
const ManifestFile = "image.yaml"

// Manifest describes an image; it is stored as image.yaml next to rootfs/.
// Disk usage is not stored (it changes as soon as a guest writes): ask
// (*Store).DiskUsage.
type Manifest struct {
	Name     string    `yaml:"name" json:"name"`
	Created  time.Time `yaml:"created" json:"created"`
	Source   string    `yaml:"source" json:"source"`                         // e.g. "busybox 1.35.0 from /bin/busybox"
	Arch     string    `yaml:"arch,omitempty" json:"arch,omitempty"`         // GOARCH spelling: amd64, arm64, ...
	Hostname string    `yaml:"hostname,omitempty" json:"hostname,omitempty"` // written to /etc/hostname
}

func readManifest(path string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("read manifest: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("parse manifest %s: %w", path, err)
	}
	return m, nil
}

func writeManifest(path string, m Manifest) error {
	b, err := yaml.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}
