// Command init-bench compares vinit's single-command mode with tini,
// dumb-init and catatonit: the time to reap an orphan storm, signal-forward
// latency, start-to-exit of INIT -- /bin/true (with hyperfine) and idle RSS.
// It prints a table with the ratios vinit/tini. Run it as root (the storm
// runs each init as PID 1 of a new PID namespace) through run.sh.
//
// This is a benchmark, not a test: the figures depend on the machine.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// roleEnv makes this binary play a part inside the init under test.
const roleEnv = "INIT_BENCH_ROLE"

type initCmd struct {
	name string
	argv []string // the init and its flags, up to and including "--"
}

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(playRole(role))
	}
	vinit := flag.String("vinit", "vinit", "path of the vinit binary")
	goFloor := flag.String("go-floor", "", "path of bench/init/gofloor, the least a Go init does, to measure as a reference")
	storm := flag.Int("storm", 20000, "orphans in the storm")
	stormRounds := flag.Int("storm-rounds", 3, "storms per init (the median is reported)")
	sigRounds := flag.Int("signal-rounds", 100, "signal-latency rounds per init (the median is reported)")
	runs := flag.Int("runs", 500, "hyperfine runs of INIT -- /bin/true")
	flag.Parse()
	if os.Geteuid() != 0 {
		fatalf("run as root: the orphan storm needs a PID namespace")
	}
	inits := []initCmd{
		{"vinit", []string{*vinit, "--"}},
		{"tini", []string{"tini", "-s", "--"}},
		{"dumb-init", []string{"dumb-init", "--"}},
		{"catatonit", []string{"catatonit", "--"}},
	}
	if *goFloor != "" {
		inits = append(inits, initCmd{"go floor", []string{*goFloor, "--"}})
	}
	for _, in := range inits {
		if _, err := exec.LookPath(in.argv[0]); err != nil {
			fatalf("%s: %v (apt-get install -y tini dumb-init catatonit)", in.name, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}

	type row struct {
		name, unit string
		target     float64
		vals       []float64
	}
	rows := []*row{
		{name: fmt.Sprintf("reap a storm of %d orphans", *storm), unit: "ms", target: 1.0},
		{name: "signal latency (TERM to init exits)", unit: "µs", target: 1.2},
		{name: "start to exit, INIT -- /bin/true", unit: "µs", target: 1.5},
		{name: "idle RSS", unit: "KiB"},
	}
	for _, in := range inits {
		fmt.Fprintf(os.Stderr, "%s: storm...", in.name)
		var st []float64
		for range *stormRounds {
			st = append(st, stormMillis(in, self, *storm))
		}
		rows[0].vals = append(rows[0].vals, median(st))
		fmt.Fprintf(os.Stderr, " signals...")
		rows[1].vals = append(rows[1].vals, signalMicros(in, *sigRounds))
		fmt.Fprintf(os.Stderr, " start-to-exit...")
		rows[2].vals = append(rows[2].vals, startToExitMicros(in, *runs))
		fmt.Fprintf(os.Stderr, " rss\n")
		rows[3].vals = append(rows[3].vals, idleRSS(in))
	}

	fmt.Printf("| measure | unit |")
	for _, in := range inits {
		fmt.Printf(" %s |", in.name)
	}
	fmt.Printf(" vinit/tini | target |\n|---|---|")
	for range inits {
		fmt.Printf("---:|")
	}
	fmt.Printf("---:|---|\n")
	for _, r := range rows {
		fmt.Printf("| %s | %s |", r.name, r.unit)
		for _, v := range r.vals {
			fmt.Printf(" %.0f |", v)
		}
		ratio := r.vals[0] / r.vals[1]
		target := "≤ 4096 KiB"
		met := r.vals[0] <= 4096
		if r.target != 0 {
			target = fmt.Sprintf("≤ %.1f", r.target)
			met = ratio <= r.target
		}
		verdict := "met"
		if !met {
			verdict = "MISSED"
		}
		fmt.Printf(" %.2f | %s %s |\n", ratio, target, verdict)
	}
}

// stormMillis runs INIT as PID 1 of a new PID and mount namespace with this
// binary as its child in the "storm" role, and returns what that reports:
// the time from releasing n zombies to the init until the init has reaped
// them all.
func stormMillis(in initCmd, self string, n int) float64 {
	cmd := exec.Command(in.argv[0], append(in.argv[1:], self, strconv.Itoa(n))...)
	cmd.Env = roleEnviron("storm")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS}
	out, err := cmd.Output()
	if err != nil {
		fatalf("%s storm: %v", in.name, err)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		fatalf("%s storm: output %q", in.name, out)
	}
	return v
}

// signalMicros measures, rounds times, INIT -- sleep: SIGTERM to the init
// until the init has exited, and returns the median. The signal goes once
// the child runs and the init has had 20 ms to settle, so what is measured
// is forwarding, not the end of the init's own start.
func signalMicros(in initCmd, rounds int) float64 {
	var lat []float64
	for range rounds {
		cmd := exec.Command(in.argv[0], append(in.argv[1:], "sleep", "1000")...)
		if err := cmd.Start(); err != nil {
			fatalf("%s: %v", in.name, err)
		}
		waitChildComm(cmd.Process.Pid, "sleep")
		time.Sleep(20 * time.Millisecond)
		t0 := time.Now()
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		lat = append(lat, float64(time.Since(t0).Microseconds()))
	}
	return median(lat)
}

// startToExitMicros asks hyperfine for the mean time of INIT -- /bin/true.
func startToExitMicros(in initCmd, runs int) float64 {
	dir, err := os.MkdirTemp("", "init-bench-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(dir)
	js := filepath.Join(dir, "out.json")
	cmdline := strings.Join(append(slices.Clone(in.argv), "/bin/true"), " ")
	h := exec.Command("hyperfine", "-N", "--warmup", "50", "--runs", strconv.Itoa(runs),
		"--export-json", js, cmdline)
	if out, err := h.CombinedOutput(); err != nil {
		fatalf("hyperfine %s: %v\n%s", cmdline, err, out)
	}
	b, err := os.ReadFile(js)
	if err != nil {
		fatalf("%v", err)
	}
	var res struct {
		Results []struct{ Median float64 }
	}
	if err := json.Unmarshal(b, &res); err != nil || len(res.Results) != 1 {
		fatalf("hyperfine output: %v", err)
	}
	return res.Results[0].Median * 1e6
}

// idleRSS returns VmRSS of INIT -- sleep once it has settled.
func idleRSS(in initCmd) float64 {
	cmd := exec.Command(in.argv[0], append(in.argv[1:], "sleep", "1000")...)
	if err := cmd.Start(); err != nil {
		fatalf("%s: %v", in.name, err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	waitChildComm(cmd.Process.Pid, "sleep")
	time.Sleep(500 * time.Millisecond)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		fatalf("%v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.Fields(v)[0])
			return float64(kb)
		}
	}
	fatalf("no VmRSS")
	return 0
}

// waitChildComm waits until pid has a child running comm.
func waitChildComm(pid int, comm string) {
	for {
		for _, c := range children(pid) {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c)); strings.TrimSpace(string(b)) == comm {
				return
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// children lists pid's children, zombies included.
func children(pid int) []int {
	var out []int
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(w); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "init-bench: "+format+"\n", args...)
	os.Exit(1)
}
