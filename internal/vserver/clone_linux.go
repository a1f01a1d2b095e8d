package vserver

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"

	"gopkg.in/yaml.v3"

	vctx "github.com/vservers/vserver/context"
)

// CloneOptions are what a clone does not take from its source.
type CloneOptions struct {
	Addresses []string // the clone's guest addresses; required for an isolated source
	Context   int      // the clone's context id; 0 for none
}

// Clone makes vserver dst from src: src's config, with dst's own addresses,
// hostname and context id, and a copy of src's copy-on-write layer (what src
// wrote over its image). src must be stopped, so the copy is consistent.
// On failure nothing of dst is left.
func Clone(p Paths, src, dst string, opt CloneOptions) (err error) {
	if err := vctx.ValidName(dst); err != nil {
		return err
	}
	cfg, err := Load(p, src)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p.Config(dst)); err == nil {
		return fmt.Errorf("vserver %s exists already (%s)", dst, p.Config(dst))
	}
	if st, err := ReadState(p, src); err == nil && vctx.Alive(st.Undo) {
		return fmt.Errorf("vserver %s is running: stop it before cloning it", src)
	}
	data, err := cloneConfig(cfg, dst, opt)
	if err != nil {
		return err
	}
	clone, err := Parse(p.Config(dst), data)
	if err != nil {
		return err
	}
	if err := CheckConflicts(p, clone); err != nil {
		return err
	}

	dstDir := p.VserverDir(dst)
	if _, err := os.Stat(dstDir); err == nil {
		return fmt.Errorf("vserver %s: %s exists already", dst, dstDir)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dstDir) // ours alone, and nothing is mounted there yet
		}
	}()
	if err := os.MkdirAll(dstDir, 0o700); err != nil {
		return err
	}
	if upper := filepath.Join(p.VserverDir(src), "upper"); exists(upper) {
		// cp -a keeps what an overlay's upper layer holds: owners, modes,
		// hard links, devices (whiteouts are 0/0 character devices) and
		// extended attributes (opaque directories are trusted.overlay.opaque).
		out, err := exec.Command("cp", "-a", "--", upper, filepath.Join(dstDir, "upper")).CombinedOutput()
		if err != nil {
			return fmt.Errorf("copy %s's files: %v: %s", src, err, bytes.TrimSpace(out))
		}
	}
	return writeFileAtomic(p.Config(dst), data)
}

// cloneConfig edits src's config file as a YAML tree, so the clone keeps
// its comments and layout: the addresses, hostname and context id change.
func cloneConfig(src *Config, dst string, opt CloneOptions) ([]byte, error) {
	raw, err := os.ReadFile(src.File)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) != 1 {
		return nil, fmt.Errorf("%s: not a YAML mapping", src.File)
	}
	top := doc.Content[0]
	if src.Network.Mode == vctx.NetIsolated {
		if len(opt.Addresses) == 0 {
			return nil, errors.New("a clone of an isolated vserver needs its own addresses (--address)")
		}
		for _, a := range opt.Addresses {
			if _, err := netip.ParsePrefix(a); err != nil {
				return nil, fmt.Errorf("address %q: want an address with its prefix length, like 10.77.0.3/24", a)
			}
		}
		list := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, a := range opt.Addresses {
			list.Content = append(list.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: a})
		}
		net := setKey(top, "network", &yaml.Node{Kind: yaml.MappingNode})
		setKey(net, "addresses", list)
		deleteKey(net, "gateway")
	}
	if src.Hostname == src.Name {
		setKey(top, "hostname", &yaml.Node{Kind: yaml.ScalarNode, Value: dst})
	}
	if opt.Context != 0 {
		setKey(top, "context", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(opt.Context)})
	} else {
		deleteKey(top, "context")
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// setKey sets key of mapping m to v, keeping an existing mapping value (to
// edit inside it) when v is an empty mapping; it returns the value node.
func setKey(m *yaml.Node, key string, v *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			if v.Kind == yaml.MappingNode && len(v.Content) == 0 && m.Content[i+1].Kind == yaml.MappingNode {
				return m.Content[i+1]
			}
			m.Content[i+1] = v
			return v
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	return v
}

func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
