package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// Cgroup2Dir is where the cgroup2 hierarchy is mounted: Root on a v2
// host, Root/unified beside v1's hierarchies on a hybrid one, "" when
// there is none.
func Cgroup2Dir() string {
	if isCgroup2(Root) {
		return Root
	}
	if u := filepath.Join(Root, "unified"); isCgroup2(u) {
		return u
	}
	return ""
}

func isCgroup1(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC
}

// isMountRoot reports whether dir is the root of its filesystem.
func isMountRoot(dir string) bool {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return true
	}
	return a.Dev != b.Dev
}

// SetLimits writes limits into the group. Zero fields are left as they are.
func (g *Group) SetLimits(l Limits) error {
	var w writes
	if g.v2 != "" && len(g.v1) == 0 {
		d := g.v2
		if l.Pids > 0 {
			w.add(d, "pids.max", l.Pids)
		}
		if l.MemoryBytes > 0 {
			w.add(d, "memory.max", l.MemoryBytes)
			w.add(d, "memory.swap.max", l.SwapBytes)
		}
		if l.CPUWeight > 0 {
			w.add(d, "cpu.weight", l.CPUWeight)
		}
		if l.CPUQuota > 0 {
			const period = 100000
			w.add(d, "cpu.max", fmt.Sprintf("%d %d", int64(l.CPUQuota*period), period))
		}
		if l.IOWeight > 0 {
			f, err := firstFile(d, "io.weight", "io.bfq.weight")
			if err != nil {
				return fmt.Errorf("io weight can't be enforced here: %w (the io controller and a disk scheduler with weights, like bfq, are needed)", err)
			}
			w.add(d, f, fmt.Sprintf("default %d", l.IOWeight))
		}
		return w.run()
	}
	if l.IOWeight > 0 {
		d, ok := g.v1["blkio"]
		f, err := firstFile(d, "blkio.weight", "blkio.bfq.weight")
		if !ok || err != nil {
			return fmt.Errorf("io weight can't be enforced here: no blkio.weight (the disk's I/O scheduler must be bfq)")
		}
		// v1 weights run from 10 to 1000.
		w.add(d, f, max(10, min(1000, l.IOWeight/10)))
	}
	if d, ok := g.v1["pids"]; ok && l.Pids > 0 {
		w.add(d, "pids.max", l.Pids)
	}
	if d, ok := g.v1["memory"]; ok && l.MemoryBytes > 0 {
		w.add(d, "memory.limit_in_bytes", l.MemoryBytes)
		if _, err := os.Stat(filepath.Join(d, "memory.memsw.limit_in_bytes")); err == nil {
			w.add(d, "memory.memsw.limit_in_bytes", l.MemoryBytes+l.SwapBytes)
		}
	}
	if d, ok := g.v1["cpu"]; ok {
		if l.CPUWeight > 0 {
			// The conversion runc and crun use between v2 weight and v1 shares.
			w.add(d, "cpu.shares", 2+((l.CPUWeight-1)*262142)/9999)
		}
		if l.CPUQuota > 0 {
			const period = 100000
			w.add(d, "cpu.cfs_period_us", period)
			w.add(d, "cpu.cfs_quota_us", int64(l.CPUQuota*period))
		}
	}
	return w.run()
}

// firstFile returns the first of names that exists in dir.
func firstFile(dir string, names ...string) (string, error) {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return n, nil
		}
	}
	return "", fmt.Errorf("no %s in %s", strings.Join(names, " or "), dir)
}

// writes is a list of cgroup files to write, in order.
type writes []struct {
	file  string
	value string
}

func (w *writes) add(dir, name string, v any) {
	*w = append(*w, struct{ file, value string }{filepath.Join(dir, name), fmt.Sprint(v)})
}

func (w writes) run() error {
	for _, x := range w {
		if err := os.WriteFile(x.file, []byte(x.value), 0); err != nil {
			return fmt.Errorf("set cgroup limit %s=%s: %w", x.file, x.value, err)
		}
	}
	return nil
}

// Usage reads what the group uses now.
func (g *Group) Usage() (Usage, error) {
	var u Usage
	var err error
	if g.v2 != "" && len(g.v1) == 0 {
		d := g.v2
		u.Pids, err = readInt(filepath.Join(d, "pids.current"))
		if err != nil {
			return u, err
		}
		u.MemoryBytes, _ = readInt(filepath.Join(d, "memory.current"))
		st, _ := readKeyed(filepath.Join(d, "cpu.stat"))
		u.CPUUser = uint64(st["user_usec"]) * 1000
		u.CPUSystem = uint64(st["system_usec"]) * 1000
		return u, nil
	}
	if d, ok := g.v1["pids"]; ok {
		if u.Pids, err = readInt(filepath.Join(d, "pids.current")); err != nil {
			return u, err
		}
	}
	if d, ok := g.v1["memory"]; ok {
		u.MemoryBytes, _ = readInt(filepath.Join(d, "memory.usage_in_bytes"))
	}
	if d, ok := g.v1["cpuacct"]; ok {
		// cpuacct.stat counts in USER_HZ ticks, which is 100 on Linux.
		st, _ := readKeyed(filepath.Join(d, "cpuacct.stat"))
		tick := uint64(time.Second / 100)
		u.CPUUser = uint64(st["user"]) * tick
		u.CPUSystem = uint64(st["system"]) * tick
	}
	return u, nil
}

// Kill sends SIGKILL to every process of the group: with cgroup.kill where
// the kernel has it, else process by process until none is left.
func (g *Group) Kill() error {
	if g.v2 != "" {
		err := os.WriteFile(filepath.Join(g.v2, "cgroup.kill"), []byte("1"), 0)
		// ENODEV: the group is being removed (see removed). ENOENT: it is
		// gone, or the kernel is older than 5.14 and has no cgroup.kill;
		// the loop below tells which.
		if err == nil || errors.Is(err, unix.ENODEV) {
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("kill cgroup %s: %w", g.Path, err)
		}
	}
	for range 100 {
		pids, err := g.Pids()
		if removed(err) {
			return nil
		}
		if err != nil || len(pids) == 0 {
			return err
		}
		for _, p := range pids {
			unix.Kill(p, unix.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("kill cgroup %s: processes keep appearing", g.Path)
}

// RemoveWhenEmpty waits up to timeout for the kernel to release the group's
// last process, then removes the group.
func (g *Group) RemoveWhenEmpty(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := g.Remove()
		if err == nil || !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readInt(file string) (int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return -1, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

func readKeyed(file string) (map[string]int64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			m[k] = n
		}
	}
	return m, nil
}

// Where returns the directories of the cgroups process pid is in, in every
// hierarchy a Group spans, as MoveTo takes them.
func Where(pid int) ([]string, error) {
	return where(fmt.Sprintf("/proc/%d/cgroup", pid))
}

// where reads a /proc/.../cgroup file as Where does.
func where(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return parseWhere(b)
}

// parseWhere turns the text of a /proc/.../cgroup file into directories.
func parseWhere(b []byte) ([]string, error) {
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" { // the cgroup2 tree
			if d := Cgroup2Dir(); d != "" {
				dirs = append(dirs, filepath.Join(d, f[2]))
			}
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if slices.Contains(v1Controllers, c) && isCgroup1(filepath.Join(Root, c)) {
				dirs = append(dirs, filepath.Join(Root, c, f[2]))
			}
		}
	}
	return dirs, nil
}

// EnterThread moves the calling OS thread, alone, into the group in every
// v1 hierarchy, by writing 0 to their tasks files, so that a process it
// forks next is born in the group there; leave moves the thread back where
// it was. A thread moving itself takes no global lock; a write to
// cgroup.procs takes the one that guards every thread group's migration,
// and waits for an RCU grace period to do so (5 to 20 ms on the build
// machine, most of a short vhost run).
//
// The caller must hold the thread (runtime.LockOSThread) from before
// EnterThread until leave has returned nil; if leave fails, it must end its
// goroutine still locked, so the runtime ends the thread rather than run
// other goroutines in the group. The cgroup2 hierarchy has no such move
// (outside threaded subtrees): a child gets there by CLONE_INTO_CGROUP,
// with a descriptor of UnifiedDir. On a pure v2 host EnterThread does
// nothing.
func (g *Group) EnterThread() (leave func() error, err error) {
	if len(g.v1) == 0 {
		return func() error { return nil }, nil
	}
	home, err := where("/proc/thread-self/cgroup")
	if err != nil {
		return nil, err
	}
	var v1home []string
	for _, d := range home {
		if !isCgroup2(d) {
			v1home = append(v1home, d)
		}
	}
	leave = func() error { return moveThread(v1home) }
	var dirs []string
	for _, d := range g.v1 {
		dirs = append(dirs, d)
	}
	if err := moveThread(dirs); err != nil {
		if lerr := leave(); lerr != nil {
			return nil, errors.Join(err, lerr)
		}
		return nil, err
	}
	return leave, nil
}

// moveThread writes 0, the calling thread, into the tasks file of every
// directory of dirs.
func moveThread(dirs []string) error {
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "tasks"), []byte("0"), 0); err != nil {
			return fmt.Errorf("move this thread to cgroup %s: %w", d, err)
		}
	}
	return nil
}

// MoveTo writes pid into the cgroup.procs of every directory of dirs.
func MoveTo(pid int, dirs []string) error {
	s := []byte(strconv.Itoa(pid))
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), s, 0); err != nil {
			return fmt.Errorf("move pid %d to cgroup %s: %w", pid, d, err)
		}
	}
	return nil
}
