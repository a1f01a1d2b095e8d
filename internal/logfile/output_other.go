//go:build !linux

package logfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// input is the pipe's read end, read by a goroutine of its own, parked in
// the runtime's poller while the pipe is empty. (On Linux one goroutine
// reads every pipe: output_linux.go.)
type input struct {
	r *os.File
}

// open creates the pipe and starts its reader.
func (o *Output) open() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	// os.Pipe makes both ends non-blocking; Fd puts the write end back in
	// blocking mode (os/exec would too, later).
	w.Fd()
	o.in.r, o.w = r, w
	go o.read()
	return nil
}

// stop has the reader stop before EOF: it flushes and ends.
func (o *Output) stop() { o.in.r.Close() }

func (o *Output) read() {
	defer o.end()
	defer o.in.r.Close()
	rc, err := o.in.r.SyscallConn()
	if err != nil {
		o.log.Error("read service output", "service", o.name, "err", err)
	}
	for eof := err != nil; !eof; {
		// The callback runs when the pipe is readable; the buffer is
		// taken only then.
		err := rc.Read(func(fd uintptr) bool {
			bp := readBufs.Get().(*[]byte)
			defer readBufs.Put(bp)
			n, err := unix.Read(int(fd), *bp)
			switch {
			case err == unix.EAGAIN:
				return false // wait until readable
			case err == unix.EINTR:
				return true
			case err != nil || n == 0:
				eof = true
				return true
			}
			o.split.write((*bp)[:n], o.line)
			o.flushFile()
			return true
		})
		if err != nil {
			break // closed by stop
		}
	}
}
