package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kardianos/service"

	"github.com/vservers/vserver/internal/hostd"
	"github.com/vservers/vserver/internal/systemd"
	"github.com/vservers/vserver/internal/vserver"
)

func init() {
	commands["service"] = command{
		usage: "service install [--init auto|systemd|sysv] [--parallel N] [--stop-timeout D] | uninstall [--init ...] | status [--init ...]",
		run:   serviceCmd,
	}
}

// serviceCmd installs, removes or shows the system service that runs
// `vhost daemon` at boot: vhost.service on a systemd host, /etc/init.d/vhost
// elsewhere. With --root / it goes through github.com/kardianos/service,
// which also enables it (systemctl enable, the rc?.d links); with another
// root it writes the same file under that root and enables nothing, for
// tests and image builds.
func serviceCmd(g *globals, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	initSys := fs.String("init", "auto", "init system: auto, systemd or sysv")
	parallel := fs.Int("parallel", 4, "vservers of one boot order booted at once")
	stopTimeout := fs.Duration("stop-timeout", 90*time.Second, "time to stop every vserver in")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return errUsage
	}
	kind := *initSys
	if kind == "auto" {
		kind = "sysv"
		if systemd.Booted() {
			kind = "systemd"
		}
	}
	if kind != "systemd" && kind != "sysv" {
		return fmt.Errorf("--init: want auto, systemd or sysv, got %q", *initSys)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return err
	}
	root, err := filepath.Abs(g.root)
	if err != nil {
		return err
	}
	svc := hostd.Service{Exe: exe, Root: root, Parallel: *parallel, StopTimeout: *stopTimeout}
	if v, err := findVinit(); err == nil {
		svc.Vinit = v
	}
	file := filepath.Join(root, "etc/systemd/system", hostd.ServiceName+".service")
	text := svc.SystemdUnit()
	if kind == "sysv" {
		file, text = filepath.Join(root, "etc/init.d", hostd.ServiceName), svc.SysVScript()
	}
	switch verb {
	case "install":
		if root == "/" {
			return kardianos(svc, kind, text, func(s service.Service) error { return s.Install() })
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(file, []byte(text), 0o755); err != nil {
			return fmt.Errorf("install %s: %w", file, err)
		}
		fmt.Println("installed", file)
		return nil
	case "uninstall":
		if root == "/" {
			return kardianos(svc, kind, text, func(s service.Service) error { return s.Uninstall() })
		}
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("uninstall %s: %w", file, err)
		}
		fmt.Println("removed", file)
		return nil
	case "status":
		if _, err := os.Stat(file); err != nil {
			fmt.Printf("%s: not installed\n", file)
		} else {
			fmt.Printf("%s: installed\n", file)
		}
		if root == "/" && kind == "systemd" {
			kardianos(svc, kind, text, func(s service.Service) error {
				st, err := s.Status()
				fmt.Println("vhost.service:", map[service.Status]string{
					service.StatusRunning: "running", service.StatusStopped: "stopped",
				}[st], errText(err))
				return nil
			})
		}
		if pid := hostd.DaemonPid(vserver.Paths{Root: root}); pid != 0 {
			fmt.Printf("vhost daemon is running (pid %d)\n", pid)
		} else {
			fmt.Println("vhost daemon is not running")
		}
		return nil
	}
	return errUsage
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// kardianos runs do on the service of init system kind, with its unit or
// script text given as it stands (it holds no template actions).
func kardianos(svc hostd.Service, kind, text string, do func(service.Service) error) error {
	want := map[string]string{"systemd": "linux-systemd", "sysv": "unix-systemv"}[kind]
	for _, s := range service.AvailableSystems() {
		if s.String() == want {
			service.ChooseSystem(s)
			break
		}
	}
	if sys := service.ChosenSystem(); sys == nil || sys.String() != want {
		return fmt.Errorf("service: %s is not available here", kind)
	}
	s, err := service.New(noProgram{}, &service.Config{
		Name:        hostd.ServiceName,
		DisplayName: "vhost",
		Description: "the vservers that boot with the host",
		Executable:  svc.Exe,
		Option:      service.KeyValue{"SystemdScript": text, "SysvScript": text},
	})
	if err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if err := do(s); err != nil {
		return fmt.Errorf("service %s: %w", kind, err)
	}
	return nil
}

// noProgram is the service.Interface kardianos wants; vhost installs the
// service with it but never runs under it: the daemon is `vhost daemon`.
type noProgram struct{}

func (noProgram) Start(service.Service) error { return nil }
func (noProgram) Stop(service.Service) error  { return nil }
