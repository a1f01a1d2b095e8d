// Package logfile keeps a service's output in a log file of its own.
//
// A Writer appends lines to DIR/NAME.log, each prefixed with the time it was
// written, and rotates the file by size: NAME.log becomes NAME.log.1, that
// one NAME.log.2, and so on up to Options.Keep files, the oldest deleted.
// A line is never split across two files, and rotation never loses one.
// Lines are written with write(2) in batches; the file is fsynced at
// rotation and at Close, not per line.
//
// Each line looks like this (RFC 3339, milliseconds, always UTC, so a guest
// whose time zone changes still writes sortable files):
//
//	2026-12-01T09:08:45.123Z listening on :80
//	2026-12-01T09:08:45.124Z vinit started pid 42
//
// where "vinit" is an optional tag given to Writer.WriteLine.
//
// An Output is the reading end of a service's output: one pipe per service,
// created once and held across restarts, whose write end every process of
// the service gets as stdout and stderr (an *os.File, so os/exec starts no
// copy goroutines and nothing is lost between two runs). Output reads it,
// splits it into lines of at most MaxLine bytes, writes them to the log
// file and copies them to the console as "NAME | line". A console that
// blocks never stalls the log file or the service: console lines go through
// a bounded queue, one per Console that all Outputs share, and lines that
// do not fit are dropped and counted. An Output holds no read buffer while
// its pipe is empty, and no goroutine: on Linux one goroutine reads the
// pipes of every Output of the process over epoll, one read of at most
// what a pipe holds per ready pipe in turn, and exists only while an
// Output is open (elsewhere each Output has a reader goroutine).
//
// Tail and Follow read the files back, across rotation, for
// "vinit ctl logs -n N" and "-f".
package logfile
