package images

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"gopkg.in/yaml.v3"

	"github.com/vservers/vserver/units"
)

// mainUnitFile is the YAML of the main unit, in the units format.
type mainUnitFile struct {
	Description string   `yaml:"description"`
	Exec        []string `yaml:"exec"`
	Environment []string `yaml:"environment,omitempty"`
	User        string   `yaml:"user,omitempty"`
	Group       string   `yaml:"group,omitempty"`
	WorkingDir  string   `yaml:"working_dir,omitempty"`
	Restart     string   `yaml:"restart"`
}

// mainUnit turns an OCI image config into the unit that runs its process
// under vinit: Entrypoint followed by Cmd as exec, Env as environment,
// WorkingDir, and User ("user", "uid", "user:group" or "uid:gid") as user
// and group; it restarts on failure, as a container with a restart policy
// would. ExposedPorts become a comment and the description (the guest's
// address is the vserver's, so there is nothing to map). It returns nil if
// the config names no process, or names vinit itself (an image exported by
// vhost, which carries its own units). The YAML is checked with
// units.Parse.
func mainUnit(c ocispec.ImageConfig, source string) ([]byte, error) {
	argv := append(slices.Clone(c.Entrypoint), c.Cmd...)
	if len(argv) == 0 || argv[0] == VinitPath {
		return nil, nil
	}
	u := mainUnitFile{
		Description: "the process of " + source,
		Exec:        argv,
		Environment: c.Env,
		Restart:     string(units.RestartOnFailure),
	}
	if c.WorkingDir != "" {
		u.WorkingDir = path.Clean("/" + c.WorkingDir)
	}
	if c.User != "" {
		u.User, u.Group, _ = strings.Cut(c.User, ":")
	}
	var ports []string
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Written by vhost image import from the config of %s.\n", source)
	if len(ports) > 0 {
		u.Description += ", exposing " + strings.Join(ports, " ")
		fmt.Fprintf(&buf, "# The image exposes %s: reach them at the vserver's address.\n", strings.Join(ports, ", "))
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(u); err != nil {
		return nil, fmt.Errorf("encode main unit: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode main unit: %w", err)
	}
	if _, err := units.Parse("/"+MainUnit, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("the image config makes an invalid unit: %w", err)
	}
	return buf.Bytes(), nil
}
