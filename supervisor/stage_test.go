package supervisor

import (
	"context"
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

// TestStageSpecRoundTrip: what the supervisor encodes for the stage is what
// the stage reads, and a spec that is not one is refused.
func TestStageSpecRoundTrip(t *testing.T) {
	umask := uint32(0o027)
	specs := []stageSpec{
		{Path: "/bin/true"},
		{Path: "/usr/bin/my daemon", Rlimits: []stageRlimit{{Name: "nofile", Resource: 7, Cur: 64, Max: 1 << 20}, {Name: "core", Resource: 4, Cur: 0, Max: ^uint64(0)}}},
		{Path: "/bin/sh", Umask: &umask},
		{Path: "/bin/sh", Cred: &stageCredential{Uid: 1000, Gid: 100}},
		{Path: "/bin/sh", Umask: &umask, Cred: &stageCredential{Uid: 65534, Gid: 65534, Groups: []uint32{4, 27, 4294967294}}},
	}
	for _, want := range specs {
		got, err := parseStageSpec(want.encode(), want.Path)
		if err != nil {
			t.Fatalf("%q: %v", want.encode(), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v, want %+v", want.encode(), got, want)
		}
	}
	for _, bad := range []string{"rlimit=nofile/7/1", "umask=9", "cred=1/2", "cred=x/2/", "rlimit=a/b/c/d", "path=/bin/sh", "{\"path\":\"/bin/sh\"}"} {
		if _, err := parseStageSpec(bad, "/bin/sh"); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
