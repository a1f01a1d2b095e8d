package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultPath is where commands are looked up when an environment has no
// PATH.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// LookPath finds file as execvp(3) would, in the PATH of env (the
// environment the command will get, not the caller's): a name with a slash
// as it is, else the first executable regular file of that name in PATH's
// directories, where an empty entry means the working directory. An env
// without PATH uses DefaultPath. The error wraps os.ErrNotExist.
func LookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path, set := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path, set = v, true
		}
	}
	if !set {
		path = DefaultPath
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("look up %s in PATH %q: %w", file, path, os.ErrNotExist)
}
