package vserver

import "path/filepath"

// Paths are where vhost keeps everything, below one root.
type Paths struct{ Root string }

func (p Paths) join(elem ...string) string {
	return filepath.Join(append([]string{p.Root}, elem...)...)
}

// ConfigDir holds one NAME.yaml per vserver.
func (p Paths) ConfigDir() string { return p.join("etc/vhost/vservers") }

// Config is the config file of vserver name.
func (p Paths) Config(name string) string { return filepath.Join(p.ConfigDir(), name+".yaml") }

// Images is the image store.
func (p Paths) Images() string { return p.join("var/lib/vhost/images") }

// RunDir holds the runtime state of vserver name while it runs.
func (p Paths) RunDir(name string) string { return p.join("run/vhost", name) }

// LogFile is where a detached vserver's console goes.
func (p Paths) LogFile(name string) string { return p.join("var/log/vhost", name+".log") }

// VserverDir holds a vserver's own files: upper/ (what it wrote over its
// image), work/ (overlayfs's), root/ (where the overlay is mounted, in
// the context's mount namespace only).
func (p Paths) VserverDir(name string) string { return p.join("var/lib/vhost/vservers", name) }
