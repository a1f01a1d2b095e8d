package images

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// OCIOptions adjust ExportOCIBundle.
type OCIOptions struct {
	// Vinit is the vinit binary copied to the bundle's /sbin/vinit. It must
	// be statically linked (CGO_ENABLED=0). Required.
	Vinit string
	// Args is the process the runtime starts; default ["/sbin/vinit"].
	Args []string
	// Hostname; default the manifest's, else the image name.
	Hostname string
}

// checkVinit checks that vinit, the binary an export of image name puts at
// /sbin/vinit, is given and static: the image brings no libc for it.
func checkVinit(name, vinit string) error {
	if vinit == "" {
		return errors.New("export image: no vinit binary given")
	}
	if _, err := checkStatic(vinit); err != nil {
		if errors.Is(err, errDynamic) {
			err = fmt.Errorf("%w (build it with CGO_ENABLED=0)", err)
		}
		return fmt.Errorf("export image %q: vinit %s: %w", name, vinit, err)
	}
	return nil
}

// ExportOCIBundle writes image name as an OCI runtime bundle to dir, which
// must not exist: dir/config.json and dir/rootfs, a copy of the image's
// rootfs (owners, modes, times, hard links, symbolic links and device nodes
// kept; extended attributes not) with opt.Vinit installed as /sbin/vinit.
// The bundle runs vinit as PID 1 in new PID, mount, IPC, UTS and network
// namespaces with /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys (read
// only), /run and /tmp mounted, Docker's default capabilities and
// no_new_privs: `crun run --bundle dir ID` or `runc run --bundle dir ID`.
// The bundle is assembled next to dir and renamed into place, so a failed
// export leaves nothing.
func (s *Store) ExportOCIBundle(name, dir string, opt OCIOptions) error {
	img, err := s.Get(name)
	if err != nil {
		return err
	}
	if err := checkVinit(name, opt.Vinit); err != nil {
		return err
	}
	if len(opt.Args) == 0 {
		opt.Args = []string{"/sbin/vinit"}
	}
	if opt.Hostname == "" {
		opt.Hostname = img.Manifest.Hostname
	}
	if opt.Hostname == "" {
		opt.Hostname = img.Name
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("export image %q: %s: %w", name, dir, os.ErrExist)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".bundle-"+name+"-")
	if err != nil {
		return fmt.Errorf("export image %q: %w", name, err)
	}
	if err := s.writeBundle(img, tmp, opt); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("export image %q: %w", name, err)
	}
	if err := renameNoReplace(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("export image %q: %w", name, err)
	}
	s.log.Info("exported image as an OCI bundle", "name", name, "dir", dir)
	return nil
}

func (s *Store) writeBundle(img *Image, dir string, opt OCIOptions) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := copyTree(rootfs, img.Rootfs); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(rootfs, "sbin"), 0o755); err != nil {
		return err
	}
	vinit := filepath.Join(rootfs, "sbin/vinit")
	if err := os.Remove(vinit); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := copyFile(vinit, opt.Vinit, 0o755); err != nil {
		return fmt.Errorf("install vinit: %w", err)
	}
	b, err := json.MarshalIndent(ociSpec(opt), "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(b, '\n'), 0o644)
}

// ociVersion is the runtime-spec version bundles declare. Every field they
// use exists in 1.0.2, and older runtimes refuse newer versions (Debian 12's
// crun 1.8: "unknown version specified").
const ociVersion = "1.0.2"

// defaultCaps are Docker's default capabilities: enough for vinit to start
// services as other users, bind low ports and kill its children.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// ociSpec is the runtime configuration of an exported bundle, modelled on
// runc's `runc spec` defaults.
func ociSpec(opt OCIOptions) *specs.Spec {
	return &specs.Spec{
		Version: ociVersion,
		Process: &specs.Process{
			User: specs.User{UID: 0, GID: 0},
			Args: opt.Args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "container=vserver"},
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: opt.Hostname,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
		},
	}
}
