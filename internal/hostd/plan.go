package hostd

import (
	"cmp"
	"os"
	"slices"
	"strings"

	"github.com/vservers/vserver/internal/vserver"
)

// Entry is one autostart vserver of the boot plan.
type Entry struct {
	Name    string
	Order   int    // boot_order
	Restart string // restart policy: "", "never", "on-failure", "always"
}

// Plan is what the daemon boots: the autostart vservers in groups of one
// boot order, lowest first, names sorted in a group; and the configs that
// could not be read, by name.
type Plan struct {
	Groups [][]Entry
	Broken map[string]error
}

// Len is the number of autostart vservers in the plan.
func (p Plan) Len() int {
	n := 0
	for _, g := range p.Groups {
		n += len(g)
	}
	return n
}

// Entry returns the plan's entry for name.
func (p Plan) Entry(name string) (Entry, bool) {
	for _, g := range p.Groups {
		for _, e := range g {
			if e.Name == name {
				return e, true
			}
		}
	}
	return Entry{}, false
}

// MakePlan reads every vserver config under p.
func MakePlan(p vserver.Paths) (Plan, error) {
	plan := Plan{Broken: map[string]error{}}
	ents, err := os.ReadDir(p.ConfigDir())
	if os.IsNotExist(err) {
		return plan, nil
	}
	if err != nil {
		return plan, err
	}
	var all []Entry
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		cfg, err := vserver.Load(p, name)
		if err != nil {
			plan.Broken[name] = err
			continue
		}
		if cfg.Autostart {
			all = append(all, Entry{Name: name, Order: cfg.BootOrder, Restart: cfg.Restart})
		}
	}
	slices.SortFunc(all, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), strings.Compare(a.Name, b.Name))
	})
	for i, e := range all {
		if i == 0 || e.Order != all[i-1].Order {
			plan.Groups = append(plan.Groups, nil)
		}
		g := &plan.Groups[len(plan.Groups)-1]
		*g = append(*g, e)
	}
	return plan, nil
}

// restartAfter says whether a guest that ended as rec says is booted
// again under policy.
func restartAfter(policy string, rec *ExitRecord) bool {
	if rec == nil || rec.Requested {
		return false
	}
	switch policy {
	case "always":
		return rec.Outcome == vserver.Poweroff || rec.Outcome == vserver.Failed
	case "on-failure":
		return rec.Outcome == vserver.Failed
	}
	return false
}
