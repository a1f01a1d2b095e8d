package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// playRole runs this binary's parts inside the init under test.
func playRole(role string) int {
	switch role {
	case "storm":
		return storm()
	case "zombies":
		return zombies()
	}
	fmt.Fprintln(os.Stderr, "unknown role", role)
	return 2
}

// storm is the init's main child, PID 2 of the namespace. It mounts a
// /proc of the namespace, has a child make n zombies, kills that child so
// the zombies pass to the init at once, and prints how long the init takes
// to reap them all (until the init's only child is this process).
func storm() int {
	n := os.Args[1]
	if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return fail("make / private: %v", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return fail("mount /proc: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fail("%v", err)
	}
	maker, err := os.StartProcess(os.Args[0], []string{os.Args[0], n}, &os.ProcAttr{
		Env:   roleEnviron("zombies"),
		Files: []*os.File{nil, w, os.Stderr},
	})
	if err != nil {
		return fail("%v", err)
	}
	w.Close()
	if _, err := io.ReadAll(r); err != nil { // EOF: all zombies made
		return fail("%v", err)
	}
	want, _ := strconv.Atoi(n)
	if got := len(children(maker.Pid)); got != want {
		return fail("zombie maker has %d children, want %d", got, want)
	}
	t0 := time.Now()
	maker.Kill()
	maker.Wait()
	for len(children(1)) > 1 {
		time.Sleep(200 * time.Microsecond)
	}
	fmt.Printf("%.1f\n", float64(time.Since(t0).Microseconds())/1000)
	return 0
}

// zombies starts n children that exit at once, waits until every one has
// exited without reaping it (WNOWAIT), then closes stdout and waits to be
// killed.
func zombies() int {
	n, _ := strconv.Atoi(os.Args[1])
	for range n {
		p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
		if err != nil {
			return fail("%v", err)
		}
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, p.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
			return fail("waitid: %v", err)
		}
		p.Release()
	}
	os.Stdout.Close()
	for {
		unix.Pause()
	}
}

// roleEnviron is this process's environment with the role set to role.
func roleEnviron(role string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, roleEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(env, roleEnv+"="+role)
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "init-bench: "+format+"\n", args...)
	return 1
}
