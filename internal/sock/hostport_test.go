package sock

import (
	"net"
	"testing"
)

var hostports = []string{
	"127.0.0.1:80", "[::1]:80", "[fe80::1%eth0]:443", "localhost:5432", ":80", "host:", "[]:1",
	"", ":", "noport", "::1:80", "[::1]", "[::1]80", "[::1]:80:90", "[::1:80", "::1]:80",
	"a[b]:80", "[a]b]:80", "[a[b]:80", "host:80]", "[host]:[80]", "h:p:q", "[::1]]:80",
}

func TestSplitHostPort(t *testing.T) {
	for _, hp := range hostports {
		checkSplit(t, hp)
	}
}

// checkSplit compares SplitHostPort with net.SplitHostPort.
func checkSplit(t *testing.T, hp string) {
	t.Helper()
	host, port, err := SplitHostPort(hp)
	wantHost, wantPort, wantErr := net.SplitHostPort(hp)
	if host != wantHost || port != wantPort || (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("SplitHostPort(%q) = %q, %q, %v; net: %q, %q, %v", hp, host, port, err, wantHost, wantPort, wantErr)
	}
}

func FuzzSplitHostPort(f *testing.F) {
	for _, hp := range hostports {
		f.Add(hp)
	}
	f.Fuzz(checkSplit)
}
