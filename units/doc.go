// Package units reads the guest's service definitions: one YAML file per
// service in a units directory (by default /etc/vinit/units). It starts
// nothing.
//
// Parse reads one file into a Unit with every default filled in. Parsing is
// strict: every error names its file, line, column and field
// (file:line:col: field: message, see internal/strictyaml), and every error
// of a file is reported at once. LoadDir reads a whole directory into a Set
// of the units that are valid together, and reports every problem of every
// file alongside: a broken unit, a unit in a dependency cycle (each cycle is
// named in full) or a unit that requires one of those is left out, and the
// rest still runs. A Set gives a deterministic start order, each unit's
// predecessors, and the units that depend on it; Diff compares two sets for a
// reload. docs/units.md describes the format.
package units
