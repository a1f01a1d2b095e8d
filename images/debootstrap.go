package images

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// DebootstrapOptions adjust BuildDebootstrap.
type DebootstrapOptions struct {
	Suite       string    // Debian suite; default "bookworm"
	Mirror      string    // archive URL; default the host's, from HostMirror("/etc/apt")
	Variant     string    // debootstrap --variant; default "minbase"
	Include     []string  // extra packages (debootstrap --include)
	Units       string    // directory whose files are copied to /etc/vinit/units/
	Hostname    string    // written to /etc/hostname; default the image name
	Debootstrap string    // the debootstrap program; default "debootstrap" from $PATH
	Output      io.Writer // debootstrap's output; default discarded
}

// BuildDebootstrap builds image name with debootstrap(8), then adds what a
// vserver needs: the empty /sbin/vinit mount point, /etc/vinit/units (with
// opt.Units copied in), /var/log/vinit and /etc/hostname. Debootstrap runs
// in a mount namespace of its own, so the /proc and /sys it mounts inside
// the target vanish with it even if it is killed.
func (s *Store) BuildDebootstrap(name string, opt DebootstrapOptions) (*Image, error) {
	if opt.Suite == "" {
		opt.Suite = "bookworm"
	}
	if opt.Variant == "" {
		opt.Variant = "minbase"
	}
	if opt.Hostname == "" {
		opt.Hostname = strings.ReplaceAll(name, "_", "-")
	}
	if opt.Debootstrap == "" {
		opt.Debootstrap = "debootstrap"
	}
	if opt.Output == nil {
		opt.Output = io.Discard
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := validHostname(opt.Hostname); err != nil {
		return nil, err
	}
	prog, err := exec.LookPath(opt.Debootstrap)
	if err != nil {
		return nil, fmt.Errorf("debootstrap: %w; install it (on Debian: apt-get install debootstrap)", err)
	}
	if opt.Mirror == "" {
		if opt.Mirror, err = HostMirror("/etc/apt"); err != nil {
			return nil, fmt.Errorf("debootstrap: %w; pass a mirror", err)
		}
	}
	args := []string{"--variant=" + opt.Variant}
	if len(opt.Include) > 0 {
		args = append(args, "--include="+strings.Join(opt.Include, ","))
	}
	st, err := s.stage(name)
	if err != nil {
		return nil, err
	}
	args = append(args, opt.Suite, st.rootfs, opt.Mirror)
	if err := runDebootstrap(prog, args, opt.Output); err != nil {
		st.abort()
		return nil, fmt.Errorf("build image %q: %w", name, err)
	}
	if err := vserverize(st.rootfs, opt.Hostname, opt.Units); err != nil {
		st.abort()
		return nil, fmt.Errorf("build image %q: %w", name, err)
	}
	arch := ""
	if f, err := elf.Open(filepath.Join(st.rootfs, "usr/bin/dpkg")); err == nil {
		arch = goarch(f.Machine, f.Class)
		f.Close()
	}
	return st.commit(Manifest{
		Created:  time.Now().UTC().Truncate(time.Second),
		Source:   fmt.Sprintf("debootstrap %s %s from %s", opt.Variant, opt.Suite, opt.Mirror),
		Arch:     arch,
		Hostname: opt.Hostname,
	})
}

// vserverize adds to a distribution's rootfs what vhost and vinit expect.
func vserverize(root, hostname, units string) error {
	for _, d := range []string{"sbin", "etc/vinit/units", "var/log/vinit"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	vinit := filepath.Join(root, "sbin/vinit")
	if err := os.Remove(vinit); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(vinit, nil, 0o755); err != nil {
		return err
	}
	hn := filepath.Join(root, "etc/hostname")
	if err := os.Remove(hn); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(hn, []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	if units != "" {
		return copyUnits(filepath.Join(root, "etc/vinit/units"), units)
	}
	return nil
}

// HostMirror returns the Debian archive URL the host's apt uses, read from
// aptDir/sources.list and aptDir/sources.list.d/*.list (one-line format) and
// *.sources (deb822). It prefers an entry for a plain suite ("bookworm")
// over -updates and -security ones.
func HostMirror(aptDir string) (string, error) {
	var cands []aptSource
	files := []string{filepath.Join(aptDir, "sources.list")}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", pat))
		sort.Strings(m)
		files = append(files, m...)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read apt sources: %w", err)
		}
		if strings.HasSuffix(f, ".sources") {
			cands = append(cands, parseDeb822Sources(string(b))...)
		} else {
			cands = append(cands, parseOneLineSources(string(b))...)
		}
	}
	for _, c := range cands {
		if !strings.Contains(c.suite, "-") && !strings.Contains(c.suite, "/") {
			return c.uri, nil
		}
	}
	if len(cands) > 0 {
		return cands[0].uri, nil
	}
	return "", fmt.Errorf("no deb source in %s/sources.list or %s/sources.list.d", aptDir, aptDir)
}

type aptSource struct{ uri, suite string }

// parseOneLineSources reads "deb [options] URI SUITE COMPONENTS..." lines.
func parseOneLineSources(text string) []aptSource {
	var out []aptSource
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // [arch=amd64 signed-by=...]
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) >= 2 {
			out = append(out, aptSource{uri: f[0], suite: f[1]})
		}
	}
	return out
}

// parseDeb822Sources reads deb822 stanzas (Types, URIs, Suites, Enabled).
func parseDeb822Sources(text string) []aptSource {
	var out []aptSource
	for _, stanza := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(line, "#") || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
				continue // comments, and continuation lines (Signed-By keys)
			}
			k, v, ok := strings.Cut(line, ":")
			if ok {
				fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		if strings.EqualFold(fields["enabled"], "no") || !slices.Contains(strings.Fields(fields["types"]), "deb") {
			continue
		}
		for _, uri := range strings.Fields(fields["uris"]) {
			for _, suite := range strings.Fields(fields["suites"]) {
				out = append(out, aptSource{uri: uri, suite: suite})
			}
		}
	}
	return out
}
