// Package units reads the guest's service definitions: one YAML file per
// service in a units directory (by default /etc/vinit/units). Parsing is
// strict; every error names its file, line, column and field, and every error
// of a directory is reported at once. The package also orders units by their
// dependencies and names every unit of a cycle. It starts nothing.
package units
