package logfile

import (
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// On Linux one goroutine, the poller, reads the pipes of every Output of
// the process over one epoll instance, so that an idle service costs no
// goroutine (vinit runs a hundred services and more). The poller runs
// while at least one Output is open: the first NewOutput starts it, and
// the end of the last Output closes its epoll fd, which ends it.
//
// The goroutine waits in the runtime's own poller, not in epoll_wait: the
// epoll fd is itself pollable, so the poller's goroutine parks like a
// reader of a socket, and holds no thread while every pipe is empty.
//
// The epoll set is level-triggered, and each ready pipe gets one read of
// at most readSize (what a pipe holds) per round before the others have
// theirs: a service that writes without pause still leaves its pipe
// readable, and epoll puts it behind the others that are ready, so it
// cannot starve them.

// pollBatch is how many ready pipes one epoll_wait returns at most; the
// others are in the next round.
const pollBatch = 32

// polling is the poller of the process, and the lock of every Output's
// reading.
var polling struct {
	// mu guards cur, every poller's outs, and the reading state of the
	// Outputs they hold (input, split, fileErr). It is held for one read
	// and its lines, not while waiting.
	mu   sync.Mutex
	cur  *poller // nil while no Output is open
	last *poller // the last started, for the tests to wait for its end
}

// poller reads the pipes of a set of Outputs, until none is left.
type poller struct {
	ep   *os.File // the epoll fd, in the runtime's poller; closed with the last Output
	epfd int      // ep's descriptor, for epoll_ctl
	outs map[int32]*Output
	// retired: ep is closed, or being closed; the goroutine returns.
	retired bool
	gone    chan struct{} // closed when the goroutine has returned
}

// input is the pipe's read end, non-blocking; it belongs to a poller from
// open until the end of the reading.
type input struct {
	fd int
	p  *poller // nil once ended
}

// newPoller creates the epoll fd and starts its goroutine.
func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// os.NewFile puts a non-blocking descriptor in the runtime's poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	// Only a file in the runtime's poller has deadlines: check that it is,
	// or the goroutine could not wait for the pipes.
	if err := ep.SetReadDeadline(time.Time{}); err != nil {
		ep.Close()
		return nil, err
	}
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, err
	}
	p := &poller{ep: ep, epfd: epfd, outs: map[int32]*Output{}, gone: make(chan struct{})}
	go p.run(rc)
	return p, nil
}

// open creates the pipe and has the poller of the process read it.
func (o *Output) open() error {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	// Only the read end is non-blocking: the ends are two file
	// descriptions, and the write end is the children's stdout.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return os.NewSyscallError("fcntl", err)
	}
	polling.mu.Lock()
	defer polling.mu.Unlock()
	p := polling.cur
	if p == nil {
		var err error
		if p, err = newPoller(); err != nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
			return err
		}
		polling.cur, polling.last = p, p
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fds[0])}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fds[0], &ev); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		if len(p.outs) == 0 {
			p.retire()
		}
		return os.NewSyscallError("epoll_ctl", err)
	}
	p.outs[int32(fds[0])] = o
	o.in = input{fd: fds[0], p: p}
	// A blocking descriptor: os.NewFile leaves it out of the runtime's
	// poller, in blocking mode.
	o.w = os.NewFile(uintptr(fds[1]), "|1")
	return nil
}

// stop ends the reading before EOF, if it has not ended: the read end is
// closed, dropping what is unread, and the end flushed.
func (o *Output) stop() {
	polling.mu.Lock()
	defer polling.mu.Unlock()
	if o.in.p != nil {
		o.in.p.remove(o)
	}
}

// remove takes o out of the poller, closes its read end and ends its
// reading; the poller retires with its last Output. polling.mu is held.
func (p *poller) remove(o *Output) {
	fd := o.in.fd
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	unix.Close(fd)
	delete(p.outs, int32(fd))
	o.in = input{fd: -1}
	o.end()
	if len(p.outs) == 0 {
		p.retire()
	}
}

// retire closes the epoll fd, which ends the goroutine: the next NewOutput
// starts another poller. polling.mu is held; the goroutine never takes it
// while it holds ep, so Close, which waits for ep's last user, returns.
func (p *poller) retire() {
	if polling.cur == p {
		polling.cur = nil
	}
	p.retired = true
	p.ep.Close()
}

// run waits for ready pipes and reads each once, until ep is closed.
func (p *poller) run(rc syscall.RawConn) {
	defer close(p.gone)
	events := make([]unix.EpollEvent, pollBatch)
	for {
		var n int
		err := rc.Read(func(fd uintptr) bool {
			for {
				var err error
				n, err = unix.EpollWait(int(fd), events, 0)
				if err != unix.EINTR {
					// Nothing ready: park until ep is readable.
					return err == nil && n > 0
				}
			}
		})
		if err != nil {
			polling.mu.Lock()
			retired := p.retired
			polling.mu.Unlock()
			if retired {
				return // ep is closed: no Output is left
			}
			// Cannot happen (ep has no deadline, and is in the
			// runtime's poller); should it, try again, without
			// spinning.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for _, ev := range events[:n] {
			p.ready(ev.Fd)
		}
	}
}

// ready reads the pipe with descriptor fd once: what it holds, up to
// readSize. The buffer is taken only for the read and its lines.
func (p *poller) ready(fd int32) {
	polling.mu.Lock()
	defer polling.mu.Unlock()
	o := p.outs[fd]
	if o == nil {
		return // removed since epoll_wait: the event is stale
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	n, err := unix.Read(int(fd), *bp)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		// Level-triggered: still ready if there is data.
	case err != nil || n == 0:
		p.remove(o) // EOF: every write end is closed
	default:
		o.split.write((*bp)[:n], o.line)
		o.flushFile()
	}
}
