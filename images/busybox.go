package images

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultBusybox is where Debian's busybox-static package installs its
// statically linked busybox.
const DefaultBusybox = "/bin/busybox"

// BusyboxOptions adjust BuildBusybox. The zero value builds from
// DefaultBusybox with the image's name as hostname ("_" becoming "-") and
// no units.
type BusyboxOptions struct {
	Busybox  string // path of a statically linked busybox; default DefaultBusybox
	Units    string // directory whose files are copied to /etc/vinit/units/
	Hostname string // written to /etc/hostname and /etc/hosts; default the image name
}

// BuildBusybox builds image name from a static busybox: the binary at
// /bin/busybox, a symbolic link to it for each of its applets, a minimal
// /etc (passwd, group, shadow, hostname, hosts, resolv.conf, os-release),
// the empty directories a vserver needs (/proc, /sys, /dev, /run, /tmp,
// /root, /var/log/vinit, /etc/vinit/units, /var/www), and the empty file
// /sbin/vinit that the host bind-mounts vinit onto.
func (s *Store) BuildBusybox(name string, opt BusyboxOptions) (*Image, error) {
	if opt.Busybox == "" {
		opt.Busybox = DefaultBusybox
	}
	if opt.Hostname == "" {
		opt.Hostname = strings.ReplaceAll(name, "_", "-")
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := validHostname(opt.Hostname); err != nil {
		return nil, err
	}
	arch, err := checkBusybox(opt.Busybox)
	if err != nil {
		return nil, err
	}
	applets, version, err := busyboxApplets(opt.Busybox)
	if err != nil {
		return nil, err
	}
	st, err := s.stage(name)
	if err != nil {
		return nil, err
	}
	if err := populateBusybox(st.rootfs, opt, applets, version); err != nil {
		st.abort()
		return nil, fmt.Errorf("build image %q: %w", name, err)
	}
	return st.commit(Manifest{
		Created:  time.Now().UTC().Truncate(time.Second),
		Source:   fmt.Sprintf("busybox %s from %s", version, opt.Busybox),
		Arch:     arch,
		Hostname: opt.Hostname,
	})
}

// errDynamic is checkStatic's complaint about a dynamically linked binary.
var errDynamic = errors.New("dynamically linked, and an image has no libc for it; a static binary is needed")

// checkStatic makes sure bin is a statically linked ELF executable (no
// PT_INTERP: a dynamic one would need the host's libc inside the image)
// and returns its architecture in GOARCH spelling.
func checkStatic(bin string) (arch string, err error) {
	f, err := elf.Open(bin)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errDynamic
		}
	}
	return goarch(f.Machine, f.Class), nil
}

// checkBusybox is checkStatic with advice on where to get a busybox.
func checkBusybox(bin string) (arch string, err error) {
	arch, err = checkStatic(bin)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("busybox %s: not found; install a static busybox (on Debian: apt-get install busybox-static) or pass its path", bin)
	case errors.Is(err, errDynamic):
		return "", fmt.Errorf("busybox %s: %w (on Debian: apt-get install busybox-static)", bin, err)
	case err != nil:
		return "", fmt.Errorf("busybox %s: not an ELF executable: %w", bin, err)
	}
	return arch, nil
}

func goarch(m elf.Machine, c elf.Class) string {
	switch m {
	case elf.EM_X86_64:
		return "amd64"
	case elf.EM_386:
		return "386"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_RISCV:
		return "riscv64"
	case elf.EM_PPC64:
		return "ppc64le"
	case elf.EM_S390:
		return "s390x"
	}
	return strings.ToLower(strings.TrimPrefix(m.String(), "EM_"))
}

var busyboxVersion = regexp.MustCompile(`^BusyBox v([0-9][^ ]*)`)

// busyboxApplets asks busybox for its applets' paths (relative, like
// "usr/bin/wget") and its version.
func busyboxApplets(bin string) (applets []string, version string, err error) {
	out, err := exec.Command(bin, "--list-full").Output()
	if err != nil {
		return nil, "", fmt.Errorf("busybox %s --list-full: %w", bin, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		p := path.Clean(l)
		if path.IsAbs(p) || p == "." || strings.HasPrefix(p, "../") || p == ".." {
			return nil, "", fmt.Errorf("busybox %s --list-full: bad applet path %q", bin, l)
		}
		applets = append(applets, p)
	}
	if len(applets) == 0 {
		return nil, "", fmt.Errorf("busybox %s --list-full: no applets", bin)
	}
	// busybox with no arguments prints "BusyBox v1.35.0 (...) multi-call binary."
	// and exits 0; some builds exit 1, so only the output counts.
	help, _ := exec.Command(bin).CombinedOutput()
	if m := busyboxVersion.FindSubmatch(bytes.TrimSpace(help)); m != nil {
		version = string(m[1])
	} else {
		version = "unknown"
	}
	return applets, version, nil
}

// The directories of a busybox image, with their modes.
var busyboxDirs = []struct {
	path string
	mode fs.FileMode
}{
	{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755},
	{"etc", 0o755}, {"etc/vinit/units", 0o755},
	{"proc", 0o555}, {"sys", 0o555}, {"dev", 0o755}, {"run", 0o755},
	{"tmp", 0o777 | fs.ModeSticky}, {"var/tmp", 0o777 | fs.ModeSticky},
	{"root", 0o700}, {"home", 0o755},
	{"var/log/vinit", 0o755}, {"var/www", 0o755},
}

func populateBusybox(root string, opt BusyboxOptions, applets []string, version string) error {
	for _, d := range busyboxDirs {
		p := filepath.Join(root, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode&fs.ModePerm|d.mode&fs.ModeSticky); err != nil {
			return err
		}
	}
	if err := copyFile(filepath.Join(root, "bin/busybox"), opt.Busybox, 0o755); err != nil {
		return fmt.Errorf("copy busybox: %w", err)
	}
	for _, a := range applets {
		if a == "bin/busybox" {
			continue
		}
		p := filepath.Join(root, a)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink("/bin/busybox", p); err != nil {
			return fmt.Errorf("link applet: %w", err)
		}
	}
	h := opt.Hostname
	files := []struct {
		path string
		mode fs.FileMode
		data string
	}{
		{"etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\n" +
			"www-data:x:33:33:www-data:/var/www:/bin/false\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/group", 0o644, "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n"},
		// "*": no password can log in; set one from the host if needed.
		{"etc/shadow", 0o600, "root:*:0:0:99999:7:::\nwww-data:*:0:0:99999:7:::\nnobody:*:0:0:99999:7:::\n"},
		{"etc/hostname", 0o644, h + "\n"},
		{"etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + h + "\n"},
		{"etc/resolv.conf", 0o644, ""},
		{"etc/os-release", 0o644, "NAME=\"BusyBox\"\nID=busybox\nVERSION_ID=\"" + version + "\"\n" +
			"PRETTY_NAME=\"BusyBox " + version + " (vserver image)\"\n"},
		// The mount point for vinit, bind-mounted read-only from the host.
		{"sbin/vinit", 0o755, ""},
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		// An applet link may sit where a file goes (busybox has no such
		// applet today, but a file must never be written through a link).
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
	}
	if opt.Units != "" {
		if err := copyUnits(filepath.Join(root, "etc/vinit/units"), opt.Units); err != nil {
			return err
		}
	}
	return nil
}

// copyUnits copies every regular file of dir (symbolic links followed)
// into dst. Anything else in dir is an error: units are flat files.
func copyUnits(dst, dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read units: %w", err)
	}
	for _, e := range ents {
		src := filepath.Join(dir, e.Name())
		fi, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("read units: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("read units: %s is not a regular file", src)
		}
		if err := copyFile(filepath.Join(dst, e.Name()), src, 0o644); err != nil {
			return fmt.Errorf("copy unit: %w", err)
		}
	}
	return nil
}

// validHostname accepts an RFC 1123 host name of up to 64 characters (the
// kernel's limit for a UTS name).
func validHostname(h string) error {
	if h == "" || len(h) > 64 {
		return fmt.Errorf("invalid hostname %q: must be 1 to 64 characters", h)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid hostname %q: empty label, or one starting or ending with '-'", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isLowerAlnum(c) && !('A' <= c && c <= 'Z') && c != '-' {
				return fmt.Errorf("invalid hostname %q: character %q is not a letter, digit or '-'", h, c)
			}
		}
	}
	return nil
}
