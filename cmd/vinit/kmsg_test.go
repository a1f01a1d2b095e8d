package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestUnitModeLogsToKmsgWithoutAConsole: when vinit's stderr is not open
// for writing (no console yet), its own messages go to /dev/kmsg, where a
// host's dmesg shows them.
func TestUnitModeLogsToKmsgWithoutAConsole(t *testing.T) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/kmsg: %v (this test needs root on a host with /dev/kmsg, as CI has)", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil { // only what comes next
		t.Fatal(err)
	}
	name := "kmsgtest" + strconv.Itoa(os.Getpid())
	dir := t.TempDir()
	units := filepath.Join(dir, "units")
	os.Mkdir(units, 0o755)
	if err := os.WriteFile(filepath.Join(units, name+".yaml"), []byte("exec: [sleep, \"1000\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noConsole, err := os.Open(os.DevNull) // read-only: vinit can't write to it
	if err != nil {
		t.Fatal(err)
	}
	defer noConsole.Close()
	cmd := exec.Command(unitVinit(t), "--units", units, "--run-dir", filepath.Join(dir, "run"), "--log-dir", filepath.Join(dir, "log"))
	cmd.Stdout, cmd.Stderr = noConsole, noConsole
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(unix.SIGTERM)
		cmd.Wait()
	}()
	want := "msg=started service=" + name
	var seen []string
	buf := make([]byte, 8192)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if errors.Is(err, unix.EPIPE) { // records overwritten while we read: go on
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		// A record is "prio,seq,usec,flags;message".
		_, msg, _ := strings.Cut(string(buf[:n]), ";")
		seen = append(seen, strings.TrimSpace(msg))
		if strings.Contains(msg, want) {
			return
		}
	}
	t.Fatalf("no %q in /dev/kmsg after 30s; records seen:\n%s", want, strings.Join(seen, "\n"))
}
