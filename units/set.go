package units

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vservers/vserver/internal/strictyaml"
)

// Set is a consistent group of units: every unit's requirements are in the
// set and there are no dependency cycles. It is read-only once built, so safe
// for concurrent use. A nil *Set is empty.
type Set struct {
	units map[string]*Unit
	names []string            // sorted
	order []string            // start order
	preds map[string][]string // must be ready before the key starts, sorted
	reqBy map[string][]string // require the key directly, sorted
}

// entry is a unit with the document it came from, if any, to place errors.
type entry struct {
	u   *Unit
	doc *strictyaml.Doc
}

func (e entry) errorf(field, format string, args ...any) *strictyaml.Error {
	if e.doc != nil {
		return e.doc.Errorf(field, format, args...)
	}
	return &strictyaml.Error{File: e.u.File, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// LoadDir reads every NAME.yaml in dir, in name order, and returns the set
// of the units that are valid together with a strictyaml.Errors listing every
// problem of every file, or a nil error. A unit is left out of the set when
// its file has errors, when it is part of a dependency cycle (each unit of a
// cycle gets an error naming the whole cycle), or when it requires a unit that
// is unknown or left out (transitively). A wants, after or before naming an
// unknown unit is an error too, reported at the reference, but the unit stays
// in the set and the reference is ignored; one naming a unit that is left out
// is ignored silently (that unit has its own errors). Files ending in .yml are
// reported and not read, so that a misnamed unit is not silently skipped.
// The error is not an Errors when dir itself cannot be read; the set is nil
// then.
func LoadDir(dir string) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read units directory: %w", err)
	}
	var errs strictyaml.Errors
	var loaded []entry
	broken := make(map[string]bool)
	for _, de := range entries {
		file := filepath.Join(dir, de.Name())
		if strings.HasSuffix(de.Name(), ".yml") {
			errs.Append(&strictyaml.Error{File: file, Msg: "not read: unit files end in " + Ext})
			continue
		}
		if !strings.HasSuffix(de.Name(), Ext) {
			continue
		}
		if name, ok := NameOf(file); ok {
			broken[name] = true // until it parses
		}
		fi, err := os.Stat(file)
		if err != nil {
			errs.Append(&strictyaml.Error{File: file, Msg: fileError(err)})
			continue
		}
		if !fi.Mode().IsRegular() {
			errs.Append(&strictyaml.Error{File: file, Msg: "not a regular file"})
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			errs.Append(&strictyaml.Error{File: file, Msg: fileError(err)})
			continue
		}
		u, doc, perrs := parse(file, data)
		if perrs != nil {
			errs = append(errs, perrs...)
			continue
		}
		delete(broken, u.Name)
		loaded = append(loaded, entry{u, doc})
	}
	s, gerrs := build(loaded, broken)
	errs = append(errs, gerrs...)
	return s, errs.Err()
}

// fileError is err without the path, which the error's File already gives.
func fileError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// NewSet builds a set from units that were parsed already (or built by hand,
// as in tests), applying the rules of LoadDir: it returns the consistent part
// and an error listing duplicate names, unknown dependencies and cycles.
func NewSet(units ...*Unit) (*Set, error) {
	var errs strictyaml.Errors
	var es []entry
	seen := make(map[string]bool)
	for _, u := range units {
		if seen[u.Name] {
			errs.Append(&strictyaml.Error{File: u.File, Msg: fmt.Sprintf("unit %q defined twice", u.Name)})
			continue
		}
		seen[u.Name] = true
		es = append(es, entry{u: u})
	}
	s, gerrs := build(es, nil)
	errs = append(errs, gerrs...)
	return s, errs.Err()
}

// depLists are a unit's dependency keys and their values.
func depLists(u *Unit) []struct {
	field string
	names []string
} {
	return []struct {
		field string
		names []string
	}{{"requires", u.Requires}, {"wants", u.Wants}, {"after", u.After}, {"before", u.Before}}
}

func build(es []entry, broken map[string]bool) (*Set, strictyaml.Errors) {
	var errs strictyaml.Errors
	byName := make(map[string]entry, len(es))
	for _, e := range es {
		byName[e.u.Name] = e
	}
	// out holds the units left out, and why, as said to those that require them.
	out := make(map[string]string)

	// Cycles, over every unit that parsed.
	g := graph(byName, func(string) bool { return true })
	for _, scc := range tarjan(g) {
		if len(scc) == 1 && !slices.Contains(g[scc[0]], scc[0]) {
			continue
		}
		walk := cycleWalk(g, scc)
		for i, name := range walk[:len(walk)-1] {
			if _, done := out[name]; done {
				continue
			}
			out[name] = fmt.Sprintf("unit %q is in a dependency cycle", name)
			next := walk[i+1]
			rotated := append(slices.Clone(walk[i:len(walk)-1]), walk[:i+1]...)
			msg := "dependency cycle: " + strings.Join(rotated, " -> ")
			e, field := edgeSite(byName, name, next)
			errs.Append(e.errorf(field, "%s", msg))
		}
	}

	// References to units that are not there.
	for _, e := range es {
		for _, dl := range depLists(e.u) {
			for i, d := range dl.names {
				field := fmt.Sprintf("%s[%d]", dl.field, i)
				switch {
				case broken[d] && dl.field == "requires":
					errs.Append(e.errorf(field, "unit %q has errors", d))
				case broken[d]:
					continue
				case byName[d].u == nil:
					errs.Append(e.errorf(field, "unknown unit %q", d))
				default:
					continue
				}
				if _, done := out[e.u.Name]; !done && dl.field == "requires" {
					out[e.u.Name] = fmt.Sprintf("unit %q is left out", e.u.Name)
				}
			}
		}
	}

	// Requirements on units left out, until nothing changes.
	for changed := true; changed; {
		changed = false
		for _, e := range es {
			if _, done := out[e.u.Name]; done {
				continue
			}
			for i, d := range e.u.Requires {
				if why, gone := out[d]; gone {
					errs.Append(e.errorf(fmt.Sprintf("requires[%d]", i), "%s", why))
					out[e.u.Name] = fmt.Sprintf("unit %q is left out", e.u.Name)
					changed = true
					break
				}
			}
		}
	}

	s := &Set{units: make(map[string]*Unit), reqBy: make(map[string][]string)}
	for _, e := range es {
		if _, gone := out[e.u.Name]; !gone {
			s.units[e.u.Name] = e.u
			s.names = append(s.names, e.u.Name)
		}
	}
	slices.Sort(s.names)
	s.preds = graph(byName, func(n string) bool { return s.units[n] != nil })
	for _, n := range s.names {
		for _, r := range s.units[n].Requires {
			s.reqBy[r] = append(s.reqBy[r], n)
		}
	}
	s.order = topoOrder(s.names, s.preds)
	return s, errs
}

// graph maps each unit for which keep holds to the kept units it must start
// after: Requires, Wants, After, and every unit whose Before lists it. Lists
// are sorted and without duplicates.
func graph(byName map[string]entry, keep func(string) bool) map[string][]string {
	g := make(map[string][]string)
	add := func(from, to string) {
		if byName[to].u != nil && keep(to) && keep(from) {
			g[from] = append(g[from], to)
		}
	}
	for name, e := range byName {
		if !keep(name) {
			continue
		}
		if _, ok := g[name]; !ok {
			g[name] = nil
		}
		for _, l := range [][]string{e.u.Requires, e.u.Wants, e.u.After} {
			for _, d := range l {
				add(name, d)
			}
		}
		for _, d := range e.u.Before {
			add(d, name)
		}
	}
	for n, l := range g {
		slices.Sort(l)
		g[n] = slices.Compact(l)
	}
	return g
}

// edgeSite returns where the edge "from starts after to" is declared: in
// from's requires, wants or after, or in to's before.
func edgeSite(byName map[string]entry, from, to string) (entry, string) {
	e := byName[from]
	for _, dl := range depLists(e.u)[:3] {
		if i := slices.Index(dl.names, to); i >= 0 {
			return e, fmt.Sprintf("%s[%d]", dl.field, i)
		}
	}
	t := byName[to]
	return t, fmt.Sprintf("before[%d]", slices.Index(t.u.Before, from))
}

// tarjan returns the strongly connected components of g, each sorted, in a
// deterministic order (Tarjan's algorithm, visiting names in sorted order).
func tarjan(g map[string][]string) [][]string {
	index := make(map[string]int)
	low := make(map[string]int)
	onStack := make(map[string]bool)
	var stack []string
	var sccs [][]string
	var visit func(string)
	visit = func(v string) {
		index[v] = len(index)
		low[v] = index[v]
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range g[v] {
			if _, seen := index[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var scc []string
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				scc = append(scc, w)
				if w == v {
					break
				}
			}
			slices.Sort(scc)
			sccs = append(sccs, scc)
		}
	}
	for _, v := range sortedKeys(g) {
		if _, seen := index[v]; !seen {
			visit(v)
		}
	}
	slices.SortFunc(sccs, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return sccs
}

// cycleWalk returns a closed walk through every unit of the strongly
// connected component scc, starting and ending at its first name: from each
// unit it goes to the nearest one not yet visited (breadth first, names in
// order), and at last back to the start.
func cycleWalk(g map[string][]string, scc []string) []string {
	in := make(map[string]bool, len(scc))
	for _, n := range scc {
		in[n] = true
	}
	visited := map[string]bool{scc[0]: true}
	walk := []string{scc[0]}
	// path is the shortest path from from to a unit for which goal holds,
	// without from itself.
	path := func(from string, goal func(string) bool) []string {
		prev := make(map[string]string)
		seen := map[string]bool{from: true}
		queue := []string{from}
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			for _, w := range g[v] {
				if !in[w] {
					continue
				}
				if goal(w) {
					p := []string{w}
					for x := v; x != from; x = prev[x] {
						p = append(p, x)
					}
					slices.Reverse(p)
					return p
				}
				if !seen[w] {
					seen[w] = true
					prev[w] = v
					queue = append(queue, w)
				}
			}
		}
		return nil
	}
	cur := scc[0]
	for len(visited) < len(scc) {
		p := path(cur, func(n string) bool { return !visited[n] })
		for _, n := range p {
			visited[n] = true
		}
		walk = append(walk, p...)
		cur = walk[len(walk)-1]
	}
	return append(walk, path(cur, func(n string) bool { return n == scc[0] })...)
}

// topoOrder returns names so that every unit comes after its predecessors;
// among units that are ready at the same time, the smaller name first.
func topoOrder(names []string, preds map[string][]string) []string {
	waiting := make(map[string]int, len(names))
	succ := make(map[string][]string)
	for _, n := range names {
		waiting[n] = len(preds[n])
		for _, p := range preds[n] {
			succ[p] = append(succ[p], n)
		}
	}
	var ready, order []string
	for _, n := range names {
		if waiting[n] == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		slices.Sort(ready)
		n := ready[0]
		ready = ready[1:]
		order = append(order, n)
		for _, s := range succ[n] {
			if waiting[s]--; waiting[s] == 0 {
				ready = append(ready, s)
			}
		}
	}
	return order
}

// Names returns the names of the units in the set, sorted.
func (s *Set) Names() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.names)
}

// Len returns the number of units in the set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// Get returns the unit called name, or nil.
func (s *Set) Get(name string) *Unit {
	if s == nil {
		return nil
	}
	return s.units[name]
}

// Order returns every unit name in a start order: each unit comes after its
// Predecessors. It is deterministic: among units free to start, the smaller
// name comes first. Stop in the reverse order.
func (s *Set) Order() []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.order)
}

// Predecessors returns the units that must be ready before name starts: its
// Requires, Wants and After, and every unit whose Before lists it, as far as
// they are in the set; sorted.
func (s *Set) Predecessors(name string) []string {
	if s == nil {
		return nil
	}
	return slices.Clone(s.preds[name])
}

// Dependents returns the units that require name, directly or through
// others, in stop order (the reverse of Order): stop them before name, and
// restart them after it for on_failure restart-dependents.
func (s *Set) Dependents(name string) []string {
	if s == nil {
		return nil
	}
	seen := make(map[string]bool)
	var visit func(string)
	visit = func(n string) {
		for _, d := range s.reqBy[n] {
			if !seen[d] {
				seen[d] = true
				visit(d)
			}
		}
	}
	visit(name)
	var out []string
	for i := len(s.order) - 1; i >= 0; i-- {
		if seen[s.order[i]] {
			out = append(out, s.order[i])
		}
	}
	return out
}
