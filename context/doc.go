// Package context is the host side of a vserver's context: the kernel box a
// guest lives in. Import it as vctx; it shadows the standard library's
// context package.
//
// Start turns a Spec into a running context: a cgroup, new PID, mount, UTS,
// IPC, network and cgroup namespaces created at clone time, a veth pair, the
// image's root made the root of the namespace with pivot_root, and the
// guest's init (vinit, bind-mounted read-only from the host) exec'd as PID 1.
//
// The namespaces are made by a short-lived setup stage: vhost re-executes
// itself (/proc/self/exe) with a hidden first argument, and the package's
// init function, which runs before main, recognises it and never returns. The
// setup stage receives its Spec as JSON on an inherited pipe, does its
// mounts from a single locked thread, and reports an error on a second pipe
// or closes it by exec'ing init. Any binary that imports this package, a test
// binary among them, can therefore play the setup stage.
//
// Every step that makes something on the host records its undo first through
// the caller's save function, so Cleanup can remove what a killed monitor
// left: the cgroup and the host end of the veth pair. Mounts live in the
// context's own mount namespace and die with it.
package context
