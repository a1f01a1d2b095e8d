package exeseal

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The test binary plays the sealed program: with the marker set it seals
// itself, then reports where /proc/self/exe points and whether it can be
// opened for writing.
func TestMain(m *testing.M) {
	if os.Getenv("EXESEAL_HELPER") == "1" {
		if err := Reexec(); err != nil {
			os.Stdout.WriteString("reexec: " + err.Error() + "\n")
			os.Exit(1)
		}
		target, _ := os.Readlink("/proc/self/exe")
		_, werr := os.OpenFile("/proc/self/exe", os.O_WRONLY, 0)
		os.Stdout.WriteString("exe=" + target + "\n")
		if werr == nil {
			os.Stdout.WriteString("writable\n")
		}
		os.Stdout.WriteString("args=" + strings.Join(os.Args[1:], " ") + "\n")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestReexecRunsFromASealedCopy(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "extra")
	cmd.Env = append(os.Environ(), "EXESEAL_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	got := string(out)
	if !strings.Contains(got, "exe=/memfd:vhost") {
		t.Errorf("after Reexec /proc/self/exe is not the memfd:\n%s", got)
	}
	if strings.Contains(got, "writable") {
		t.Errorf("the sealed binary can be opened for writing:\n%s", got)
	}
	if !strings.Contains(got, "args=-test.run=^$ extra") {
		t.Errorf("arguments not kept across the re-exec:\n%s", got)
	}
}
