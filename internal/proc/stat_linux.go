package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Stat is what is read of /proc/PID/stat.
type Stat struct {
	State     byte   // R, S, D, T, t, Z, X, ...
	PPid      int    // parent
	Pgrp      int    // process group
	Session   int    // session
	StartTime uint64 // clock ticks after boot: with the PID, names one process for good
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return parseStat(pid, string(b))
}

func parseStat(pid int, s string) (Stat, error) {
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that matter follow its last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var st Stat
	var errs [4]error
	st.State = f[0][0]
	st.PPid, errs[0] = strconv.Atoi(f[1])
	st.Pgrp, errs[1] = strconv.Atoi(f[2])
	st.Session, errs[2] = strconv.Atoi(f[3])
	st.StartTime, errs[3] = strconv.ParseUint(f[19], 10, 64)
	for _, err := range errs {
		if err != nil {
			return Stat{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
	}
	return st, nil
}
