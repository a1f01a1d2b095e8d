//go:build !linux

package bindfilter

import "net/netip"

// Filter is the set of programs one Attach loaded.
type Filter struct{}

// Close releases the process's handles on the programs.
func (f *Filter) Close() error { return nil }

// Attach returns ErrUnsupported.
func Attach(cgroupDir string, allowed []netip.Addr) (*Filter, error) {
	if _, err := newPolicy(allowed); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}

// Detach returns ErrUnsupported.
func Detach(cgroupDir string) error { return ErrUnsupported }

// List returns ErrUnsupported.
func List(cgroupDir string) ([]Program, error) { return nil, ErrUnsupported }
