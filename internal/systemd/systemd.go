package systemd

import (
	"os"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// Booted reports whether the host was booted by systemd (sd_booted(3):
// /run/systemd/system exists).
func Booted() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// DefaultSlice is where vserver scopes go, beside systemd-nspawn's machines.
const DefaultSlice = "machine.slice"

// ScopeUnit is the unit name of vserver name's scope: vhost-NAME.scope.
func ScopeUnit(name string) string { return "vhost-" + name + ".scope" }

// ScopeProps are the properties of a transient scope. Zero values leave a
// limit unset (systemd's default: no limit), so MemorySwapMax 0 means "not
// set"; NoSwap sets memory.swap.max to 0.
type ScopeProps struct {
	// Unit overrides the unit name (default ScopeUnit(name)); it must end
	// in ".scope".
	Unit        string
	Slice       string // default DefaultSlice
	Description string // default "vserver NAME"
	// Delegate hands the scope's cgroup subtree to its processes
	// (Delegate=yes), so they may create cgroups below it. StartScope
	// always sets it for vserver scopes; see NoDelegate.
	NoDelegate bool
	// More PIDs to move into the scope with the first.
	PIDs []int

	TasksMax           uint64 // pids.max
	MemoryMax          uint64 // memory.max, bytes
	MemorySwapMax      uint64 // memory.swap.max, bytes
	NoSwap             bool   // memory.swap.max = 0
	CPUWeight          uint64 // cpu.weight, 1..10000
	CPUQuotaPerSecUSec uint64 // cpu.max: µs of CPU time per second (1000000 = one CPU)
	IOWeight           uint64 // io.weight, 1..10000
}

// unit returns the unit name the props give vserver name.
func (p ScopeProps) unit(name string) string {
	if p.Unit != "" {
		return p.Unit
	}
	return ScopeUnit(name)
}

// properties builds the D-Bus properties of StartTransientUnit for a scope
// holding pid (and p.PIDs).
func (p ScopeProps) properties(name string, pid int) []sddbus.Property {
	slice, desc := p.Slice, p.Description
	if slice == "" {
		slice = DefaultSlice
	}
	if desc == "" {
		desc = "vserver " + name
	}
	pids := []uint32{uint32(pid)}
	for _, q := range p.PIDs {
		pids = append(pids, uint32(q))
	}
	props := []sddbus.Property{
		sddbus.PropDescription(desc),
		sddbus.PropSlice(slice),
		sddbus.PropPids(pids...),
		prop("Delegate", !p.NoDelegate),
		// A scope whose processes were killed must not stay "failed":
		// the next start of the vserver reuses its name.
		prop("CollectMode", "inactive-or-failed"),
	}
	for _, l := range []struct {
		name string
		v    uint64
	}{
		{"TasksMax", p.TasksMax},
		{"MemoryMax", p.MemoryMax},
		{"MemorySwapMax", p.MemorySwapMax},
		{"CPUWeight", p.CPUWeight},
		{"CPUQuotaPerSecUSec", p.CPUQuotaPerSecUSec},
		{"IOWeight", p.IOWeight},
	} {
		if l.v != 0 {
			props = append(props, prop(l.name, l.v))
		}
	}
	if p.NoSwap {
		props = append(props, prop("MemorySwapMax", uint64(0)))
	}
	return props
}

func prop(name string, v any) sddbus.Property {
	return sddbus.Property{Name: name, Value: dbus.MakeVariant(v)}
}

// cgroupOf reads the cgroup v2 path of a process from the contents of
// /proc/PID/cgroup (the "0::" line), or "".
func cgroupOf(procCgroup string) string {
	for _, l := range strings.Split(procCgroup, "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	return ""
}
