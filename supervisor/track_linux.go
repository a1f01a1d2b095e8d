package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// How the supervisor finds every process of a service, to stop it:
//
//   - its process group (Setpgid), always;
//   - with a cgroup2 directory (Config.Cgroup), a sub-cgroup per service,
//     NAME.service, which the service is born into (CLONE_INTO_CGROUP) and
//     which no process of it can leave without privileges it lacks; SIGKILL
//     goes through cgroup.kill, which leaves no window for a fork to escape;
//   - without one, the marker VINIT_SERVICE=NAME.N in the environment each
//     process inherits, found by a scan of /proc/*/environ. A process that
//     clears or replaces its environment (or changes it with a later
//     execve) escapes this scan, and so does one that forks in the moment
//     between the scan and the signal; SIGKILL rounds are repeated while the
//     scan finds any.

// MarkerEnv is the environment variable that marks a service's processes.
const MarkerEnv = "VINIT_SERVICE"

// cgroupDir creates (or reuses) the cgroup of service name below parent and
// opens it (O_PATH: only its file descriptor is needed) for
// CLONE_INTO_CGROUP. The caller closes fd.
func cgroupDir(parent, name string) (dir string, fd int, err error) {
	dir = filepath.Join(parent, name+".service")
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", -1, fmt.Errorf("create cgroup of %s: %w", name, err)
	}
	fd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", -1, fmt.Errorf("open cgroup of %s: %w", name, &os.PathError{Op: "open", Path: dir, Err: err})
	}
	return dir, fd, nil
}

// cgroupPids lists the processes of a cgroup2 directory.
func cgroupPids(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// cgroupKill sends SIGKILL to every process of dir at once (cgroup.kill,
// Linux 5.14), or one by one where that file is missing.
func cgroupKill(dir string) {
	if os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0) == nil {
		return
	}
	for _, p := range cgroupPids(dir) {
		killPid(p, unix.SIGKILL)
	}
}

// cgroupRemove removes an emptied cgroup; the kernel may need a moment
// after the last process was reaped.
func cgroupRemove(dir string) {
	for range 50 {
		if err := os.Remove(dir); err == nil || !errors.Is(err, unix.EBUSY) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// markedPids returns the descendants of this process whose environment
// holds marker (KEY=VALUE). Only descendants are looked at: a process
// elsewhere on the machine is never a service's, whatever its environment.
func markedPids(marker string) []int {
	if !strings.Contains(marker, "=") {
		return nil
	}
	want := []byte(marker)
	var pids []int
	for _, pid := range descendants(os.Getpid()) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			continue
		}
		for v := range bytes.SplitSeq(b, []byte{0}) {
			if bytes.Equal(v, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// killPid sends sig to one process found by a scan; it refuses init and
// this process itself, whatever the scan found.
func killPid(pid int, sig unix.Signal) {
	if pid <= 1 || pid == os.Getpid() {
		return
	}
	unix.Kill(pid, sig)
}

// killGroup sends sig to process group pgid. It refuses pgid 0 and 1, for
// which kill(2) would reach this process's group or every process.
func killGroup(pgid int, sig unix.Signal) error {
	if pgid <= 1 {
		return fmt.Errorf("kill process group %d: refused", pgid)
	}
	return unix.Kill(-pgid, sig)
}

// OwnCgroup returns the cgroup2 directory this process is in, as mounted
// here, or an error when there is no cgroup2 mount that shows it.
func OwnCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var path string
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path = p
		}
	}
	if path == "" {
		return "", errors.New("find own cgroup: no cgroup2 entry in /proc/self/cgroup")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		fs := strings.Fields(pre)
		if len(fs) < 5 {
			continue
		}
		root, mnt := fs[3], fs[4]
		if rel, ok := strings.CutPrefix(path, root); ok && (root == "/" || rel == "" || rel[0] == '/') {
			return filepath.Join(mnt, rel), nil
		}
	}
	return "", fmt.Errorf("find own cgroup %s: no cgroup2 mount shows it", path)
}
