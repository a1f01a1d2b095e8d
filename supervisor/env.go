package supervisor

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/vservers/vserver/units"
)

// environ is the environment of u's next process: the base environment,
// then u's env files, then u's env; a later KEY replaces an earlier one.
func (s *Supervisor) environ(u *units.Unit) ([]string, error) {
	env := append([]string(nil), s.cfg.Env...)
	for _, f := range u.EnvFiles {
		kvs, err := readEnvFile(f)
		if err != nil {
			return nil, err
		}
		env = append(env, kvs...)
	}
	env = append(env, u.Env...)
	if s.notifyAddr != "" && (u.Kind == units.Notify || u.Watchdog > 0) {
		env = append(env, "NOTIFY_SOCKET="+s.notifyAddr)
	}
	if u.Watchdog > 0 {
		env = append(env, fmt.Sprintf("WATCHDOG_USEC=%d", u.Watchdog.Microseconds()))
	}
	return dedupEnv(env), nil
}

// readEnvFile reads KEY=VALUE lines; blank lines and lines starting with #
// are skipped.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	defer f.Close()
	var kvs []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); !ok || k == "" {
			return nil, fmt.Errorf("read env file %s:%d: want KEY=VALUE", path, n)
		}
		kvs = append(kvs, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file %s: %w", path, err)
	}
	return kvs, nil
}

// dedupEnv keeps the last value of every key, at the place of its first.
func dedupEnv(env []string) []string {
	idx := make(map[string]int)
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}
