package supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vservers/vserver/units"
)

// TestRlimitsAtExec: a unit's limits are in effect when its program is
// exec'd, not set from outside afterwards. RLIMIT_STACK bounds the
// arguments execve accepts (a quarter of it, at least 128 KiB): 200 KiB of
// arguments pass under vinit's stack limit and fail under 512 KiB.
func TestRlimitsAtExec(t *testing.T) {
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &cur); err != nil {
		t.Fatal(err)
	}
	if cur.Cur != unix.RLIM_INFINITY && cur.Cur < 4<<20 {
		t.Fatalf("the test's own stack limit is %d bytes; it needs 4 MiB or more", cur.Cur)
	}
	big := []string{strings.Repeat("a", 100<<10), strings.Repeat("b", 100<<10)}
	plain := testUnit("plain", append([]string{"true"}, big...)...)
	plain.Kind = units.Oneshot
	small := testUnit("small", append([]string{"true"}, big...)...)
	small.Kind = units.Oneshot
	small.Rlimits = map[string]units.Rlimit{"stack": {Soft: 512 << 10, Hard: unix.RLIM_INFINITY}}
	s := start(t, nil, plain, small)
	if st := waitState(t, s, "plain", func(st Status) bool { return st.State == StateExited || st.State == StateFailed }); st.State != StateExited {
		t.Fatalf("without a stack limit: %s (%s), want exited", st.State, st.Error)
	}
	st := waitState(t, s, "small", func(st Status) bool { return st.State == StateExited || st.State == StateFailed })
	if st.State != StateFailed || !strings.Contains(st.Error, "argument list too long") || strings.Contains(st.Error, "fork/exec") {
		t.Fatalf("with a 512 KiB stack limit: %s (%q), want failed: the program's execve refused the arguments", st.State, st.Error)
	}
}

// TestRlimitsFirstInstruction: the program reads /proc/self/limits as the
// first thing it does, as another user, and finds its unit's limits.
func TestRlimitsFirstInstruction(t *testing.T) {
	var console syncBuffer
	u := testUnit("limits", "cat", "/proc/self/limits")
	u.Kind = units.Oneshot
	u.User = "65534"
	u.Rlimits = map[string]units.Rlimit{
		"nofile":     {Soft: 123, Hard: 456},
		"core":       {Soft: 0, Hard: 0},
		"sigpending": {Soft: 100, Hard: 200},
	}
	s := start(t, &console, u)
	if st := waitState(t, s, "limits", func(st Status) bool { return st.State == StateExited || st.State == StateFailed }); st.State != StateExited {
		t.Fatalf("%s (%s), want exited", st.State, st.Error)
	}
	waitOutput(t, &console, "limits | Max realtime timeout")
	want := map[string][2]string{
		"Max open files":      {"123", "456"},
		"Max core file size":  {"0", "0"},
		"Max pending signals": {"100", "200"},
	}
	out := console.String()
	for name, w := range want {
		m := regexp.MustCompile(`limits \| ` + name + `\s+(\S+)\s+(\S+)`).FindStringSubmatch(out)
		if m == nil || m[1] != w[0] || m[2] != w[1] {
			t.Errorf("%s: got %q, want soft %s hard %s\n%s", name, m, w[0], w[1], out)
		}
	}
}

// TestRlimitsBeforeSetuid: limits are set before the credentials change,
// as setuid(2) expects: switching to a user who is over the RLIMIT_NPROC
// then in effect makes the next execve fail (EAGAIN). Set after setuid,
// the limit would let the program start.
func TestRlimitsBeforeSetuid(t *testing.T) {
	other := testUnit("other", "sleep", "1000")
	other.User = "65534"
	u := testUnit("nproc", "true")
	u.Kind = units.Oneshot
	u.User = "65534"
	u.After = []string{"other"}
	u.Rlimits = map[string]units.Rlimit{"nproc": {Soft: 0, Hard: 0}}
	s := start(t, nil, other, u)
	st := waitState(t, s, "nproc", func(st Status) bool { return st.State == StateExited || st.State == StateFailed })
	if st.State != StateFailed || !strings.Contains(st.Error, "resource temporarily unavailable") {
		t.Fatalf("%s (%q), want failed: execve over RLIMIT_NPROC", st.State, st.Error)
	}
}

// waitOutput waits until the console shows want.
func waitOutput(t *testing.T, console *syncBuffer, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for !strings.Contains(console.String(), want) {
		select {
		case <-ctx.Done():
			t.Fatalf("console %q, want %q", console.String(), want)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestStageSpecJSON: the stage's spec is JSON as encoding/json wrote it,
// and reads back as it read it.
func TestStageSpecJSON(t *testing.T) {
	umask := uint32(0o27)
	for _, spec := range []stageSpec{
		{Path: "/bin/true"},
		{Path: "/usr/sbin/d b\"\n", Umask: &umask, Rlimits: []stageRlimit{{Name: "nofile", Resource: 7, Cur: 1024, Max: 4096}, {Name: "core", Resource: 4, Cur: ^uint64(0), Max: ^uint64(0)}}},
		{Path: "/x", Cred: &stageCredential{Uid: 65534, Gid: 65534}},
		{Path: "/x", Cred: &stageCredential{Uid: 1000, Gid: 100, Groups: []uint32{4, 24, 4294967295}}},
		{Path: "/x", Cred: &stageCredential{Groups: []uint32{}}},
	} {
		got := spec.appendJSON(nil)
		if want, _ := json.Marshal(spec); !bytes.Equal(got, want) {
			t.Errorf("got  %s\njson %s", got, want)
		}
		var want stageSpec
		json.Unmarshal(got, &want)
		if dec, err := decodeStageSpec(string(got)); err != nil || !reflect.DeepEqual(dec, want) {
			t.Errorf("decoding %s: %+v, %v; encoding/json: %+v", got, dec, err, want)
		}
	}
	for _, bad := range []string{``, `{"path":1}`, `{"umask":-1}`, `{"umask":4294967296}`, `{"rlimits":[{"cur":-1}]}`, `{"cred":{"Uid":"0"}}`} {
		if _, err := decodeStageSpec(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
