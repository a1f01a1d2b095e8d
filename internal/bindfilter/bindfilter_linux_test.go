package bindfilter

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if op := os.Getenv(helperEnv); op != "" {
		os.Exit(runHelper(op))
	}
	os.Exit(m.Run())
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test loads BPF programs and creates cgroups: run it as root")
	}
}

// cgroup2Root is where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup
// on a v2 host, /sys/fs/cgroup/unified on a hybrid v1 one.
func cgroup2Root(t *testing.T) string {
	t.Helper()
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return dir
		}
	}
	t.Fatal("no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified")
	return ""
}

var cgroups atomic.Int32

// guard bounds a wait for a packet that would otherwise hang the test when
// the packet went elsewhere.
const guard = 10 * time.Second

// newCgroup makes a cgroup v2 directory for one test and removes it after.
func newCgroup(t *testing.T) string {
	t.Helper()
	requireRoot(t)
	dir := filepath.Join(cgroup2Root(t), fmt.Sprintf("bindfilter-test-%d-%d", os.Getpid(), cgroups.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
			t.Errorf("remove cgroup %s: %v", dir, err)
		}
	})
	return dir
}

func attach(t *testing.T, dir string, addrs ...string) *Filter {
	t.Helper()
	var allowed []netip.Addr
	for _, a := range addrs {
		allowed = append(allowed, netip.MustParseAddr(a))
	}
	f, err := Attach(dir, allowed)
	if err != nil {
		t.Fatalf("Attach(%s, %v): %v", dir, addrs, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// helper returns the test binary as a helper running op, born in the cgroup
// dir (CLONE_INTO_CGROUP) unless dir is "".
func helper(t *testing.T, dir, op string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+op)
	cmd.Stderr = os.Stderr
	if dir != "" {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open cgroup: %v", err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	return cmd
}

// run runs op in a helper in the cgroup dir and returns what it printed.
func run(t *testing.T, dir, op string) string {
	t.Helper()
	out, err := helper(t, dir, op).Output()
	if err != nil {
		t.Fatalf("helper %q: %v", op, err)
	}
	return strings.TrimSpace(string(out))
}

func TestFilter(t *testing.T) {
	a, b, c := newCgroup(t), newCgroup(t), newCgroup(t)
	attach(t, a, "127.0.0.2")
	attach(t, b, "127.0.0.3", "::1")
	attach(t, c, "::1")
	tests := []struct {
		name, dir, op, want string
	}{
		{"own address", a, "bind tcp4 127.0.0.2", "127.0.0.2"},
		{"other address", a, "bind tcp4 127.0.0.3", "error EPERM"},
		{"wildcard", a, "bind tcp4 0.0.0.0", "127.0.0.2"},
		{"localhost becomes own loopback", a, "bind tcp4 127.0.0.1", "127.0.0.2"},
		{"udp own address", a, "bind udp4 127.0.0.2", "127.0.0.2"},
		{"udp other address", a, "bind udp4 127.0.0.3", "error EPERM"},
		{"udp wildcard", a, "bind udp4 0.0.0.0", "127.0.0.2"},
		{"ipv6 wildcard without ipv6 address", a, "bind tcp6 ::", "::ffff:127.0.0.2"},
		{"ipv6 loopback not allowed", a, "bind tcp6 ::1", "error EPERM"},
		{"v4-mapped own address", a, "bind tcp6 ::ffff:127.0.0.2", "::ffff:127.0.0.2"},
		{"v4-mapped other address", a, "bind udp6 ::ffff:127.0.0.3", "error EPERM"},
		{"v4-mapped wildcard", a, "bind tcp6 ::ffff:0.0.0.0", "::ffff:127.0.0.2"},
		{"second cgroup: v4-mapped wildcard", b, "bind udp6 ::ffff:0.0.0.0", "::ffff:127.0.0.3"},
		{"ipv6 connect without ipv6 address", a, "connect tcp6 [::1]:9", "error EPERM"},
		{"pktinfo source not allowed", a, "sendfrom 127.0.0.3 127.0.0.2:9", "error EPERM"},
		{"pktinfo source allowed", a, "sendfrom 127.0.0.2 127.0.0.2:9", "ok"},
		{"tcp socket", a, "socket tcp4", "ok"},
		{"raw socket", a, "socket raw4", "error EPERM"},
		{"raw ipv6 socket", a, "socket raw6", "error EPERM"},
		{"mptcp socket", a, "socket mptcp4", "error EPERM"},
		{"udplite socket", a, "socket udplite6", "error EPERM"},

		{"second cgroup: own address", b, "bind tcp4 127.0.0.3", "127.0.0.3"},
		{"second cgroup: first cgroup's address", b, "bind tcp4 127.0.0.2", "error EPERM"},
		{"second cgroup: wildcard", b, "bind udp4 0.0.0.0", "127.0.0.3"},
		{"second cgroup: ipv6 wildcard", b, "bind tcp6 ::", "::1"},
		{"second cgroup: ipv6 own address", b, "bind udp6 ::1", "::1"},
		{"second cgroup: ipv6 other address", b, "bind tcp6 2001:db8::3", "error EPERM"},

		{"ipv6 only: ipv4 wildcard", c, "bind tcp4 0.0.0.0", "error EPERM"},
		{"ipv6 only: v4-mapped wildcard", c, "bind tcp6 ::ffff:0.0.0.0", "error EPERM"},
		{"ipv6 only: ipv6 wildcard", c, "bind udp6 ::", "::1"},
		{"ipv6 only: ipv4 connect", c, "connect tcp4 127.0.0.1:9", "error EPERM"},
		{"ipv6 only: ipv4 send", c, "sendto udp4 127.0.0.1:9", "error EPERM"},

		{"outside the cgroups", "", "bind tcp4 127.0.0.3", "127.0.0.3"},
		{"outside the cgroups: raw socket", "", "socket raw4", "ok"},
		{"outside the cgroups: mptcp socket", "", "socket mptcp4", "ok"},
		{"outside the cgroups: udplite socket", "", "socket udplite6", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, tt.dir, tt.op); got != tt.want {
				t.Errorf("%s: got %q, want %q", tt.op, got, tt.want)
			}
		})
	}
}

// TestConnectBound checks that a socket bound before connect keeps its
// address: the connect hook's bpf_bind fails on it, and that is no denial.
func TestConnectBound(t *testing.T) {
	dir := newCgroup(t)
	attach(t, dir, "127.0.0.2", "127.0.0.4")
	ln, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	op := "bindconnect tcp4 127.0.0.4 " + ln.Addr().String()
	if got := run(t, dir, op); got != "127.0.0.4" {
		t.Fatalf("%s: got %q, want 127.0.0.4", op, got)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := remoteAddr(c.RemoteAddr()); got != "127.0.0.4" {
		t.Errorf("peer sees a connection from %s, want 127.0.0.4", got)
	}
}

// TestManyAddresses loads the largest filter and checks its last addresses.
func TestManyAddresses(t *testing.T) {
	dir := newCgroup(t)
	addrs := []string{"::1"}
	for i := range MaxAddrs / 2 {
		addrs = append(addrs, fmt.Sprintf("127.0.1.%d", i+1))
	}
	for i := len(addrs); i < MaxAddrs; i++ {
		addrs = append(addrs, fmt.Sprintf("2001:db8::%x", i))
	}
	attach(t, dir, addrs...)
	tests := []struct{ op, want string }{
		{"bind tcp4 127.0.1.128", "127.0.1.128"},
		{"bind tcp4 127.0.1.129", "error EPERM"},
		{"bind udp4 0.0.0.0", "127.0.1.1"},
		{"bind tcp6 ::", "::1"},
		// Not on the host, so the kernel refuses what the filter let through.
		{"bind tcp6 2001:db8::ff", "error EADDRNOTAVAIL"},
		{"bind tcp6 2001:db8::100", "error EPERM"},
	}
	for _, tt := range tests {
		if got := run(t, dir, tt.op); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.op, got, tt.want)
		}
	}
}

// TestSource checks the source address of connections and datagrams from
// unbound sockets, seen by a peer outside the cgroup.
func TestSource(t *testing.T) {
	a, b := newCgroup(t), newCgroup(t)
	attach(t, a, "127.0.0.2")
	attach(t, b, "127.0.0.3", "::1")
	tests := []struct {
		name, dir, network, listen, dial, want string
	}{
		{"tcp", a, "tcp", "127.0.0.5", "127.0.0.5", "127.0.0.2"},
		{"tcp from v4-mapped", a, "tcp6", "127.0.0.5", "::ffff:127.0.0.5", "127.0.0.2"},
		{"tcp to localhost reaches own loopback", a, "tcp", "127.0.0.2", "127.0.0.1", "127.0.0.2"},
		{"udp", a, "udp", "127.0.0.5", "127.0.0.5", "127.0.0.2"},
		{"udp from v4-mapped", a, "udp6", "127.0.0.5", "::ffff:127.0.0.5", "127.0.0.2"},
		{"udp to localhost is not redirected", a, "udp", "127.0.0.1", "127.0.0.1", "127.0.0.2"},
		{"second cgroup: tcp", b, "tcp", "127.0.0.5", "127.0.0.5", "127.0.0.3"},
		{"second cgroup: tcp6", b, "tcp6", "::1", "::1", "::1"},
		{"second cgroup: udp6", b, "udp6", "::1", "::1", "::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fam := "4"
			if netip.MustParseAddr(tt.dial).Is6() {
				fam = "6"
			}
			if strings.HasPrefix(tt.network, "tcp") {
				ln, err := net.Listen("tcp", net.JoinHostPort(tt.listen, "0"))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				port := ln.Addr().(*net.TCPAddr).Port
				dial := netip.AddrPortFrom(netip.MustParseAddr(tt.dial), uint16(port))
				// The kernel completes the handshake into the listen backlog:
				// the helper's connect returns before the Accept.
				out := run(t, tt.dir, "connect tcp"+fam+" "+dial.String())
				if got := netip.MustParseAddr(out).Unmap().String(); got != tt.want {
					t.Fatalf("helper's local address: got %q, want %s", out, tt.want)
				}
				c, err := ln.Accept()
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				if got := remoteAddr(c.RemoteAddr()); got != tt.want {
					t.Errorf("peer sees a connection from %s, want %s", got, tt.want)
				}
				return
			}
			pc, err := net.ListenPacket("udp", net.JoinHostPort(tt.listen, "0"))
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			port := pc.LocalAddr().(*net.UDPAddr).Port
			dial := netip.AddrPortFrom(netip.MustParseAddr(tt.dial), uint16(port))
			if out := run(t, tt.dir, "sendto udp"+fam+" "+dial.String()); out != "ok" {
				t.Fatalf("sendto: got %q, want ok", out)
			}
			pc.SetReadDeadline(time.Now().Add(guard)) // not a timing assertion: no hang if it went elsewhere
			buf := make([]byte, 16)
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := remoteAddr(from); got != tt.want {
				t.Errorf("peer sees a datagram from %s, want %s", got, tt.want)
			}
		})
	}
}

func remoteAddr(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	return ap.Addr().Unmap().String()
}

// TestServe has a server in the cgroup listen on the wildcard and a client
// outside reach it at the context's address.
func TestServe(t *testing.T) {
	dir := newCgroup(t)
	attach(t, dir, "127.0.0.2")
	for _, network := range []string{"tcp4", "udp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			wildcard := "0.0.0.0"
			if strings.HasSuffix(network, "6") {
				wildcard = "::"
			}
			cmd := helper(t, dir, "serve "+network+" "+wildcard)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Kill() // a no-op once it has served; else it would wait for ever
				cmd.Wait()
			}()
			r := bufio.NewReader(stdout)
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read server address: %v", err)
			}
			ap, err := netip.ParseAddrPort(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("server printed %q: %v", line, err)
			}
			if got := ap.Addr().Unmap().String(); got != "127.0.0.2" {
				t.Fatalf("server bound %s, want 127.0.0.2", got)
			}
			dialNet := "tcp"
			if strings.HasPrefix(network, "udp") {
				dialNet = "udp"
			}
			c, err := net.Dial(dialNet, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String())
			if err != nil {
				t.Fatalf("dial the server: %v", err)
			}
			defer c.Close()
			if dialNet == "udp" {
				if _, err := c.Write([]byte("hi")); err != nil {
					t.Fatal(err)
				}
			}
			c.SetReadDeadline(time.Now().Add(guard))
			buf := make([]byte, 5)
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatalf("read from the server: %v", err)
			}
			if string(buf) != "hello" {
				t.Errorf("server said %q, want hello", buf)
			}
			rest, _ := io.ReadAll(r)
			if got := strings.TrimSpace(string(rest)); got != "served" {
				t.Errorf("server ended with %q, want served", got)
			}
		})
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	progs, err := List(dir)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var n []string
	for _, p := range progs {
		n = append(n, p.Name)
	}
	return n
}

func allNames() []string {
	var n []string
	for _, h := range hooks {
		n = append(n, h.name)
	}
	return n
}

// TestOutlivesAttacher attaches from a process that exits, then detaches.
func TestOutlivesAttacher(t *testing.T) {
	dir := newCgroup(t)
	if out := run(t, "", "attach "+dir+" 127.0.0.2"); out != "ok" {
		t.Fatalf("attach in a helper: got %q, want ok", out)
	}
	if got, want := names(t, dir), allNames(); !slices.Equal(got, want) {
		t.Errorf("after the attaching process exited: got programs %v, want %v", got, want)
	}
	if got := run(t, dir, "bind tcp4 0.0.0.0"); got != "127.0.0.2" {
		t.Errorf("bind 0.0.0.0 after the attaching process exited: got %q, want 127.0.0.2", got)
	}
	if err := Detach(dir); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("after Detach: got programs %v, want none", got)
	}
	if got := run(t, dir, "bind tcp4 127.0.0.3"); got != "127.0.0.3" {
		t.Errorf("bind 127.0.0.3 after Detach: got %q, want 127.0.0.3", got)
	}
	if err := Detach(dir); err != nil {
		t.Errorf("Detach of a cgroup without the filter: %v", err)
	}
}

// TestReplace attaches twice, as a restarted monitor does: the second
// filter takes the first one's place.
func TestReplace(t *testing.T) {
	dir := newCgroup(t)
	attach(t, dir, "127.0.0.2")
	attach(t, dir, "127.0.0.4")
	if got, want := names(t, dir), allNames(); !slices.Equal(got, want) {
		t.Errorf("after a second Attach: got programs %v, want %v", got, want)
	}
	if got := run(t, dir, "bind tcp4 0.0.0.0"); got != "127.0.0.4" {
		t.Errorf("bind 0.0.0.0: got %q, want 127.0.0.4", got)
	}
	if got := run(t, dir, "bind tcp4 127.0.0.2"); got != "error EPERM" {
		t.Errorf("bind the first filter's address: got %q, want error EPERM", got)
	}
	if err := Detach(dir); err != nil {
		t.Fatalf("Detach: %v", err)
	}
}

// TestRemovedWithCgroup checks that the kernel frees the programs when the
// cgroup goes, with no Detach.
func TestRemovedWithCgroup(t *testing.T) {
	dir := newCgroup(t)
	f := attach(t, dir, "127.0.0.2")
	progs, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := unix.Rmdir(dir); err != nil {
		t.Fatalf("remove cgroup: %v", err)
	}
	// The kernel releases a removed cgroup's programs from a workqueue.
	deadline := time.Now().Add(3 * guard)
	for _, p := range progs {
		for {
			prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(p.ID))
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if err != nil {
				t.Fatalf("look up program %d: %v", p.ID, err)
			}
			prog.Close()
			if time.Now().After(deadline) {
				t.Fatalf("program %s (%d) still exists 30s after its cgroup was removed", p.Name, p.ID)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestNotCgroup2(t *testing.T) {
	requireRoot(t)
	_, err := Attach(t.TempDir(), []netip.Addr{netip.MustParseAddr("127.0.0.2")})
	if err == nil || !strings.Contains(err.Error(), "not a cgroup v2 directory") {
		t.Errorf("Attach to a plain directory: got %v, want a not-a-cgroup-v2 error", err)
	}
}
