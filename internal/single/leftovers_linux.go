package single

import (
	"os"
	"strconv"

	"github.com/vservers/vserver/internal/proc"

	"golang.org/x/sys/unix"
)

// What is left when the main child has exited:
//
//   - As PID 1 of a PID namespace, every other process of the namespace:
//     all of them descend from vinit, and kill(-1, sig) reaches exactly them.
//   - As a child subreaper, every process below vinit in the process tree:
//     its children (orphans reparented to vinit included) and, transitively,
//     theirs. That includes the members of the child's process group that
//     descend from vinit, and excludes anything else, even a process that
//     joined that group from outside. Each one is pinned with a pidfd and its
//     parent checked after pinning, so a PID recycled meanwhile is never
//     signalled.

// signalAll sends sig to what is left, and reports how many processes it
// found (for PID 1, -1: unknown).
func signalAll(pid1 bool, sig unix.Signal) int {
	if pid1 {
		unix.Kill(-1, sig)
		return -1
	}
	fds := descendants(os.Getpid())
	for _, fd := range fds {
		unix.PidfdSendSignal(fd, sig, nil, 0)
		unix.Close(fd)
	}
	return len(fds)
}

// descendants returns pidfds of every process below self.
func descendants(self int) []int {
	children := make(map[int][]int)
	for _, pid := range allPids() {
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	verified := map[int]int{} // pid → pidfd
	var fds []int
	queue := children[self]
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // gone
		}
		// The pidfd now pins whichever process has this PID. Accept it if
		// its parent is vinit, or a verified descendant that is still alive
		// (a live process keeps its PID, so ppid names that very process).
		ppid, ok := parentOf(pid)
		pfd, known := verified[ppid]
		if !ok || (ppid != self && (!known || unix.PidfdSendSignal(pfd, 0, nil, 0) != nil)) {
			unix.Close(fd)
			continue
		}
		verified[pid] = fd
		fds = append(fds, fd)
		queue = append(queue, children[pid]...)
	}
	return fds
}

// allPids lists the PIDs in /proc.
func allPids() []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// parentOf reads the parent PID from /proc/PID/stat.
func parentOf(pid int) (int, bool) {
	st, err := proc.ReadStat(pid)
	return st.PPid, err == nil
}
