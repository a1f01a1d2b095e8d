package vserver

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	vctx "github.com/vservers/vserver/context"
	"github.com/vservers/vserver/internal/strictyaml"
)

// checkHostIDs refuses a user namespace range that would hand the guest
// ids the host already gives to someone: a user of the host's
// /etc/passwd, a group of /etc/group, or a subordinate range that
// /etc/subuid or /etc/subgid allots to a user other than root (rootless
// containers of that user live there). A guest process with such an id
// would own that user's files wherever both can reach them. Ranges root
// was allotted are the ones meant for root's containers, as LXC uses
// them, and are allowed. The files are read under the host root p.Root;
// a missing one holds nothing.
func checkHostIDs(p Paths, cfg *Config) error {
	m := cfg.IDMap()
	if m == nil {
		return nil
	}
	var errs strictyaml.Errors
	inRange := func(id uint64) bool {
		return id >= uint64(m.HostBase) && id < uint64(m.HostBase)+uint64(m.Size)
	}
	for _, db := range []struct{ file, what string }{{"etc/passwd", "user"}, {"etc/group", "group"}} {
		file := p.join(db.file)
		errs.Append(eachLine(file, func(n int, f []string) {
			if len(f) < 3 {
				return
			}
			id, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil || !inRange(id) {
				return
			}
			errs.Append(cfg.doc.Errorf("user_namespace", "host ids %d to %d include host %s %s (id %d, %s:%d): pick a range clear of the host's %ss",
				m.HostBase, uint64(m.HostBase)+uint64(m.Size)-1, db.what, f[0], id, file, n, db.what))
		}))
	}
	for _, db := range []string{"etc/subuid", "etc/subgid"} {
		file := p.join(db)
		errs.Append(eachLine(file, func(n int, f []string) {
			if len(f) != 3 || f[0] == "root" || f[0] == "0" {
				return
			}
			start, err1 := strconv.ParseUint(f[1], 10, 32)
			count, err2 := strconv.ParseUint(f[2], 10, 32)
			if err1 != nil || err2 != nil || count == 0 {
				return
			}
			o := &vctx.IDMap{HostBase: uint32(start), Size: uint32(count)}
			if !m.Overlaps(o) {
				return
			}
			errs.Append(cfg.doc.Errorf("user_namespace", "host ids %d to %d overlap %s's subordinate ids %d to %d (%s:%d): pick a range clear of them",
				m.HostBase, uint64(m.HostBase)+uint64(m.Size)-1, f[0], start, start+count-1, file, n))
		}))
	}
	return errs.Err()
}

// eachLine calls fn with the number and colon-separated fields of every
// line of file that is neither empty nor a comment. A file that does not
// exist has no lines.
func eachLine(file string, fn func(n int, fields []string)) error {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		fn(n, strings.Split(l, ":"))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}
