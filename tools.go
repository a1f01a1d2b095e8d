//go:build tools

package tools
import (
 _ "golang.org/x/sys/unix"
 _ "gopkg.in/yaml.v3"
 _ "github.com/vishvananda/netlink"
 _ "github.com/coreos/go-systemd/v22/daemon"
 _ "github.com/kardianos/service"
 _ "golang.org/x/tools/txtar"
 _ "github.com/google/go-cmp/cmp"
 _ "golang.org/x/term"
)
