package supervisor

import (
	"context"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vservers/vserver/units"
)

// withHosts points the probe at a hosts file of the test's.
func withHosts(t *testing.T, content string) string {
	t.Helper()
	file := t.TempDir() + "/hosts"
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	old := hostsFile
	hostsFile = file
	t.Cleanup(func() { hostsFile = old })
	return file
}

// listen opens a TCP listener of the test's on a loopback address and
// returns its port; it skips the test, saying so, where the machine has no
// such loopback (IPv6).
func listen(t *testing.T, network, addr string) string {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		if network == "tcp6" {
			t.Skipf("SKIP: this machine has no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// closedPort is a port nothing listens on, on 127.0.0.1 and ::1.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

func probe(hostport string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return probeTCP(ctx, hostport)
}

func TestProbeTCP(t *testing.T) {
	withHosts(t, "# no localhost here\n")
	t.Run("IPv4", func(t *testing.T) {
		port := listen(t, "tcp4", "127.0.0.1:0")
		for _, hp := range []string{"127.0.0.1:" + port, "localhost:" + port, "LocalHost.:" + port, ":" + port, "[::ffff:127.0.0.1]:" + port} {
			if err := probe(hp); err != nil {
				t.Errorf("%s: %v", hp, err)
			}
		}
	})
	t.Run("IPv6", func(t *testing.T) {
		port := listen(t, "tcp6", "[::1]:0")
		for _, hp := range []string{"[::1]:" + port, "[::1%lo]:" + port, "localhost:" + port} {
			if err := probe(hp); err != nil {
				t.Errorf("%s: %v", hp, err)
			}
		}
	})
	t.Run("closed port", func(t *testing.T) {
		port := closedPort(t)
		err := probe("127.0.0.1:" + port)
		if err == nil || err.Error() != "dial tcp 127.0.0.1:"+port+": connect: connection refused" {
			t.Errorf("got %v, want connection refused", err)
		}
		// Every address of localhost was tried; the error is the first's.
		if err := probe("localhost:" + port); err == nil || !strings.Contains(err.Error(), "127.0.0.1:"+port) {
			t.Errorf("localhost: got %v, want 127.0.0.1's refusal", err)
		}
	})
}

func TestProbeTCPHostsFile(t *testing.T) {
	port := listen(t, "tcp4", "127.0.0.1:0")
	closed := closedPort(t)
	file := withHosts(t, strings.Join([]string{
		"# the guest's hosts",
		"127.0.0.1\tlocalhost",
		"::1 localhost ip6-localhost",
		"127.0.0.2   other",
		"::1         db   # first, but nothing listens on ::1",
		"127.0.0.1   DB.example.  db-alias db",
		"not-an-address db",
		"10.0.0.1",
		"",
	}, "\n"))
	for _, name := range []string{"db", "db.example", "DB-alias", "db.example."} {
		if err := probe(name + ":" + port); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := probe("db:" + closed); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("db on a closed port: %v", err)
	}
	err := probe("db.internal:" + port)
	if err == nil || err.Error() != "look up db.internal: not in "+file+", and vinit has no DNS resolver: give an IP address or a name "+file+" lists, or probe a DNS name with ready.exec" {
		t.Errorf("a name not in the hosts file: %v", err)
	}
	hostsFile = file + ".missing"
	if err := probe("db:" + port); err == nil || !strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), "ready.exec") {
		t.Errorf("no hosts file: %v", err)
	}
	if err := probe("localhost:" + port); err != nil {
		t.Errorf("localhost without a hosts file: %v", err)
	}
}

func TestLookupHosts(t *testing.T) {
	file := withHosts(t, "127.0.0.1 a b\n10.0.0.1 A # a comment b\n#10.0.0.2 a\n  fe80::1%eth0   a\n127.0.0.1 a\n10.0.0.3 c b")
	for name, want := range map[string][]string{
		"a": {"127.0.0.1", "10.0.0.1", "fe80::1%eth0"},
		"b": {"127.0.0.1", "10.0.0.3"},
		"c": {"10.0.0.3"},
		"d": nil,
	} {
		got, err := lookupHosts(file, name)
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if err != nil || !slices.Equal(s, want) {
			t.Errorf("%s: %v, %v; want %v", name, s, err, want)
		}
	}
}

func TestPartialDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 5 * time.Second, 10: 2 * time.Second} {
		d, ok := partialDeadline(ctx, n)
		if got := time.Until(d); !ok || got > want || got < want-time.Second {
			t.Errorf("%d addresses: %v, want %v", n, got, want)
		}
	}
	if _, ok := partialDeadline(context.Background(), 2); ok {
		t.Error("a deadline without ctx's")
	}
}

// TestProbeTCPByName: a service whose probe names a host of the hosts
// file becomes ready once its port listens.
func TestProbeTCPByName(t *testing.T) {
	port := closedPort(t)
	withHosts(t, "127.0.0.1 backend\n")
	a := testUnit("a", "sleep", "1000")
	a.Ready = units.Ready{TCP: "backend:" + port, Interval: 10 * time.Millisecond, Timeout: time.Minute}
	s := startIn(t, "", a)
	waitState(t, s, "a", is(StateStarting))
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	waitState(t, s, "a", is(StateRunning))
}
