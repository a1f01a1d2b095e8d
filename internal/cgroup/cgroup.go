package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Root is where the cgroup filesystems are mounted. Tests may change it.
var Root = "/sys/fs/cgroup"

// v1Controllers are the v1 hierarchies a group spans, when mounted.
var v1Controllers = []string{"pids", "memory", "cpu", "cpuacct", "blkio", "freezer"}

// v2Controllers are enabled for the group on v2, where available.
var v2Controllers = []string{"cpu", "io", "memory", "pids"}

// Limits are the quotas of a group. A zero field means no limit.
type Limits struct {
	Pids        int64   // maximum number of tasks
	MemoryBytes int64   // hard memory limit
	SwapBytes   int64   // memory+swap beyond MemoryBytes (v2: memory.swap.max)
	CPUWeight   uint64  // 1..10000, like v2 cpu.weight (100 is the default)
	CPUQuota    float64 // CPUs' worth of time, e.g. 0.5 or 2
	IOWeight    uint64  // 1..10000, like v2 io.weight (100 is the default)
}

// Usage is what a group has used, read back from the kernel.
type Usage struct {
	Pids        int64
	MemoryBytes int64
	CPUUser     uint64 // nanoseconds
	CPUSystem   uint64 // nanoseconds
}

// Group is one control group, spanning every hierarchy it lives in.
type Group struct {
	Path string   // relative path, the same in every hierarchy, e.g. "vhost/demo"
	dirs []string // absolute directories, the leaf of each hierarchy
	v2   string   // the unified-hierarchy directory, if any
	v1   map[string]string
}

// Unified reports whether the host runs cgroup v2 only.
func Unified() bool { return isCgroup2(Root) }

// Open finds the group at path in every hierarchy it exists in, without
// creating anything.
func Open(path string) (*Group, error) {
	g, err := locate(path)
	if err != nil {
		return nil, err
	}
	var present []string
	for _, d := range g.dirs {
		if _, err := os.Stat(d); err == nil {
			present = append(present, d)
		}
	}
	g.dirs = present
	return g, nil
}

// Create makes the group in every hierarchy, parents included, and applies
// limits. On failure nothing it made is left behind.
func Create(path string, limits Limits) (_ *Group, err error) {
	g, err := locate(path)
	if err != nil {
		return nil, err
	}
	var made []string
	defer func() {
		if err != nil {
			for i := len(made) - 1; i >= 0; i-- {
				os.Remove(made[i])
			}
		}
	}()
	for _, d := range g.dirs {
		if _, err := os.Stat(d); err == nil {
			return nil, fmt.Errorf("create cgroup %s: %s exists already", path, d)
		}
		m, err := mkdirAll(d)
		made = append(made, m...)
		if err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", path, err)
		}
	}
	if g.v2 != "" {
		if err := enableControllers(g.v2); err != nil {
			return nil, fmt.Errorf("create cgroup %s: %w", path, err)
		}
	}
	if err := g.SetLimits(limits); err != nil {
		return nil, err
	}
	return g, nil
}

// locate computes the directories of path in every mounted hierarchy.
func locate(path string) (*Group, error) {
	clean := filepath.Clean("/" + path)[1:]
	if clean == "" || clean != path {
		return nil, fmt.Errorf("cgroup path %q: must be relative and clean", path)
	}
	g := &Group{Path: path, v1: map[string]string{}}
	if isCgroup2(Root) {
		g.v2 = filepath.Join(Root, path)
		g.dirs = []string{g.v2}
		return g, nil
	}
	for _, c := range v1Controllers {
		h := filepath.Join(Root, c)
		if isCgroup1(h) {
			d := filepath.Join(h, path)
			g.v1[c] = d
			g.dirs = append(g.dirs, d)
		}
	}
	if len(g.dirs) == 0 {
		return nil, errors.New("no cgroup hierarchy mounted under " + Root)
	}
	if u := Cgroup2Dir(); u != "" {
		g.v2 = filepath.Join(u, path)
		g.dirs = append(g.dirs, g.v2)
	}
	return g, nil
}

// mkdirAll is os.MkdirAll that reports which directories it made.
func mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return made, err
		}
		made = append(made, missing[i])
	}
	return made, nil
}

// enableControllers turns on, in every parent of dir below the hierarchy's
// root, the v2 controllers that the parent offers.
func enableControllers(dir string) error {
	var parents []string
	for d := filepath.Dir(dir); strings.HasPrefix(d, Root) && d != filepath.Dir(Root); d = filepath.Dir(d) {
		parents = append(parents, d)
		if isMountRoot(d) {
			break
		}
	}
	for i := len(parents) - 1; i >= 0; i-- {
		p := parents[i]
		avail, err := os.ReadFile(filepath.Join(p, "cgroup.controllers"))
		if err != nil {
			return err
		}
		have := strings.Fields(string(avail))
		var want []string
		for _, c := range v2Controllers {
			for _, h := range have {
				if h == c {
					want = append(want, "+"+c)
				}
			}
		}
		if len(want) == 0 {
			continue
		}
		if err := os.WriteFile(filepath.Join(p, "cgroup.subtree_control"), []byte(strings.Join(want, " ")), 0); err != nil {
			return fmt.Errorf("enable controllers %v in %s: %w", want, p, err)
		}
	}
	return nil
}

// Delegate hands the group's cgroup2 directory to uid and gid, the way
// cgroups(7) delegates a subtree: the directory itself, so they can make
// cgroups below it, and the files the kernel lists in
// /sys/kernel/cgroup/delegate (cgroup.procs, cgroup.subtree_control,
// cgroup.threads, ...), so they can move their processes among those. The
// limits' files stay root's. Without a cgroup2 hierarchy there is nothing
// to hand over.
func (g *Group) Delegate(uid, gid int) error {
	if g.v2 == "" {
		return nil
	}
	files := []string{"cgroup.procs", "cgroup.subtree_control", "cgroup.threads"}
	if b, err := os.ReadFile("/sys/kernel/cgroup/delegate"); err == nil {
		files = strings.Fields(string(b))
	}
	if err := os.Chown(g.v2, uid, gid); err != nil {
		return fmt.Errorf("delegate cgroup %s: %w", g.Path, err)
	}
	for _, f := range files {
		if err := os.Chown(filepath.Join(g.v2, f), uid, gid); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delegate cgroup %s: %w", g.Path, err)
		}
	}
	return nil
}

// Dirs returns the group's directory in every hierarchy.
func (g *Group) Dirs() []string { return g.dirs }

// Unified returns the group's cgroup2 directory ("" when there is none), for
// CLONE_INTO_CGROUP and cgroup.kill.
func (g *Group) UnifiedDir() string { return g.v2 }

// Add moves the process pid into the group in every hierarchy.
func (g *Group) Add(pid int) error {
	s := []byte(strconv.Itoa(pid))
	for _, d := range g.dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), s, 0); err != nil {
			return fmt.Errorf("add pid %d to cgroup %s: %w", pid, d, err)
		}
	}
	return nil
}

// Pids lists the processes in the group (from the first hierarchy that
// answers; they are the same everywhere).
func (g *Group) Pids() ([]int, error) {
	var last error
	for _, d := range g.dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			last = err
			continue
		}
		var pids []int
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil {
				pids = append(pids, p)
			}
		}
		return pids, nil
	}
	return nil, fmt.Errorf("list cgroup %s: %w", g.Path, last)
}

// removeTree removes the cgroup at dir and, first, the cgroups below it
// (those vinit made for its services, if the context died before vinit
// could remove them). A cgroup directory holds only control files, which go
// with it, and cgroups.
func removeTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return os.Remove(dir)
}

// removed reports whether err says the group was removed by someone else
// since it was opened: ENOENT once it is gone, ENODEV while the kernel is
// still taking it down. systemd removes a scope's cgroup once it is
// empty, and only an empty group can be removed, so nothing is left in
// it to kill.
func removed(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV)
}

// Remove deletes the group's directories, and its parents below the
// hierarchy's root where they are left empty. The group must have no process.
func (g *Group) Remove() error {
	var errs []error
	for _, d := range g.dirs {
		if err := removeTree(d); err != nil && !removed(err) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			continue
		}
		// Parents made for us ("vhost...") go when nobody else uses them;
		// others, like systemd's machine.slice, are not ours to remove.
		for p := filepath.Dir(d); len(p) > len(Root) && !isMountRoot(p) && strings.HasPrefix(filepath.Base(p), "vhost"); p = filepath.Dir(p) {
			if os.Remove(p) != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}
