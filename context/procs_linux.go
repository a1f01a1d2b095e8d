package context

import (
	"bufio"
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Proc is one process of a context, as the host sees it.
type Proc struct {
	Pid      int // host PID
	GuestPid int // PID inside the context
	PPid     int // host PID of the parent
	UID      int // real user ID
	Threads  int
	VSZ      int64  // virtual memory size, bytes
	RSS      int64  // resident memory, bytes
	State    string // R, S, Z, ...
	Comm     string
	Cmdline  string
}

// Procs lists the processes in the PID namespace of the context whose init
// u records, init first.
func Procs(u Undo) ([]Proc, error) {
	var want unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(u.Pid)+"/ns/pid", &want); err != nil || !Alive(u) {
		return nil, ErrNotRunning
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var procs []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name()+"/ns/pid", &st) != nil || st.Ino != want.Ino || st.Dev != want.Dev {
			continue
		}
		if p, ok := readProc(pid); ok {
			procs = append(procs, p)
		}
	}
	// By guest PID, init first: /proc lists by name, where host PID 1002
	// comes before 975.
	slices.SortFunc(procs, func(a, b Proc) int { return cmp.Compare(a.GuestPid, b.GuestPid) })
	return procs, nil
}

func readProc(pid int) (Proc, bool) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	f, err := os.Open(filepath.Join(dir, "status"))
	if err != nil {
		return Proc{}, false
	}
	defer f.Close()
	p := Proc{Pid: pid}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "Name":
			p.Comm = strings.TrimSpace(v)
		case "State":
			p.State = fields[0]
		case "PPid":
			p.PPid, _ = strconv.Atoi(fields[0])
		case "Uid":
			p.UID, _ = strconv.Atoi(fields[0])
		case "VmRSS":
			kb, _ := strconv.ParseInt(fields[0], 10, 64)
			p.RSS = kb << 10
		case "Threads":
			p.Threads, _ = strconv.Atoi(fields[0])
		case "VmSize":
			kb, _ := strconv.ParseInt(fields[0], 10, 64)
			p.VSZ = kb << 10
		case "NSpid":
			p.GuestPid, _ = strconv.Atoi(fields[len(fields)-1])
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		p.Cmdline = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	}
	if p.Cmdline == "" {
		p.Cmdline = "[" + p.Comm + "]"
	}
	return p, true
}
