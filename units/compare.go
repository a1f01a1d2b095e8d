package units

import (
	"reflect"
	"slices"
)

// Equal reports whether a and b define the same service, ignoring File (a
// unit moved or re-read from another path is the same). Empty and nil lists
// and maps are the same. Hot reload restarts a unit only when it is not Equal
// to its running version.
func Equal(a, b *Unit) bool {
	if a == nil || b == nil {
		return a == b
	}
	return reflect.DeepEqual(normal(a), normal(b))
}

// normal returns a copy of u without File and with empty lists and maps nil.
func normal(u *Unit) Unit {
	c := *u
	c.File = ""
	for _, l := range []*[]string{&c.Exec, &c.Env, &c.EnvFiles, &c.Groups, &c.Requires, &c.Wants, &c.After, &c.Before, &c.Ready.Exec} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if len(c.SuccessExitCodes) == 0 {
		c.SuccessExitCodes = nil
	}
	if len(c.Rlimits) == 0 {
		c.Rlimits = nil
	}
	return c
}

// Diff compares two sets by unit name: added are in new only, removed in old
// only, changed in both but not Equal. Each list is sorted. A nil set is
// empty.
func Diff(old, new *Set) (added, removed, changed []string) {
	for _, n := range new.Names() {
		switch o := old.Get(n); {
		case o == nil:
			added = append(added, n)
		case !Equal(o, new.Get(n)):
			changed = append(changed, n)
		}
	}
	for _, n := range old.Names() {
		if new.Get(n) == nil {
			removed = append(removed, n)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	slices.Sort(changed)
	return added, removed, changed
}
