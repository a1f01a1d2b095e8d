// Package sock is the few stream sockets vinit needs, without package net:
// a unix socket to listen on and dial (the control socket), and a TCP
// connect (the ready probe). vinit is PID 1 of every vserver, and package
// net, with its resolver and its many address types, is close to half a
// megabyte of its binary; every page of that binary it touches stays
// resident for the guest's whole life.
//
// A socket is made non-blocking and close-on-exec and handed to os.NewFile,
// which puts it in the runtime's poller: Read, Write, Close and deadlines
// work as on any pollable file, a goroutine blocked in Read or Accept parks
// rather than holding a thread, and Close wakes it. Connect waits on the
// poller too, bounded by its context.
//
// SplitHostPort is net.SplitHostPort's rules, for what names a TCP address.
package sock
