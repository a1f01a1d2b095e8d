package sdnotify

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"time"
)

// MaxMessage is the largest datagram the server accepts, in bytes: systemd's
// NOTIFY_BUFFER_MAX (PIPE_BUF). Longer datagrams are dropped whole.
const MaxMessage = 4096

// MaxFds is the most file descriptors one datagram can carry. It is the
// kernel's SCM_MAX_FD: a sender cannot pass more in one sendmsg.
const MaxFds = 253

// Field is one KEY=VALUE line of a notification.
type Field struct {
	Key   string
	Value string
}

// Message is one datagram received on the notify socket.
type Message struct {
	// Pid, Uid and Gid are the sender's credentials as the kernel reported
	// them (SCM_CREDENTIALS), translated into the server's namespaces.
	Pid, Uid, Gid int32
	// Fields are the message's KEY=VALUE lines in the order they were sent.
	Fields []Field
	// Fds are the file descriptors passed with the message (SCM_RIGHTS),
	// such as those of FDSTORE=1. The server closes whatever is left in
	// Fds when the handler returns: a handler that keeps a file removes it
	// from Fds (or sets Fds to nil).
	Fds []*os.File
}

// Errors returned by Parse.
var (
	ErrNUL   = errors.New("notification contains a NUL byte")
	ErrEmpty = errors.New("notification is empty")
)

// Parse splits a datagram's payload into fields. Lines are separated by
// "\n"; empty lines and lines without "=" or with an empty key are ignored.
// A payload with a NUL byte is refused, as systemd refuses it.
func Parse(b []byte) ([]Field, error) {
	if bytes.IndexByte(b, 0) >= 0 {
		return nil, ErrNUL
	}
	var fields []Field
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok || len(k) == 0 {
			continue
		}
		fields = append(fields, Field{Key: string(k), Value: string(v)})
	}
	if len(fields) == 0 {
		return nil, ErrEmpty
	}
	return fields, nil
}

// Value returns the value of the first field named key, as systemd's
// service manager reads a field sent twice in one message.
func (m *Message) Value(key string) (string, bool) {
	for _, f := range m.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// is reports whether the message has the field key=value.
func (m *Message) is(key, value string) bool {
	for _, f := range m.Fields {
		if f.Key == key && f.Value == value {
			return true
		}
	}
	return false
}

// Ready reports READY=1: the service finished starting up, or reloading.
func (m *Message) Ready() bool { return m.is("READY", "1") }

// Reloading reports RELOADING=1: the service began reloading its
// configuration and will send READY=1 when done.
func (m *Message) Reloading() bool { return m.is("RELOADING", "1") }

// Stopping reports STOPPING=1: the service began shutting down.
func (m *Message) Stopping() bool { return m.is("STOPPING", "1") }

// Watchdog reports WATCHDOG=1, a watchdog keep-alive ping.
func (m *Message) Watchdog() bool { return m.is("WATCHDOG", "1") }

// WatchdogTrigger reports WATCHDOG=trigger: the service asks to be treated
// as if its watchdog timer had expired.
func (m *Message) WatchdogTrigger() bool { return m.is("WATCHDOG", "trigger") }

// FDStore reports FDSTORE=1: the message's Fds are to be kept for the
// service (under FDName, if given).
func (m *Message) FDStore() bool { return m.is("FDSTORE", "1") }

// FDStoreRemove reports FDSTOREREMOVE=1: the stored fds named FDName are to
// be closed.
func (m *Message) FDStoreRemove() bool { return m.is("FDSTOREREMOVE", "1") }

// Status returns STATUS=, a free-form status line for humans.
func (m *Message) Status() (string, bool) { return m.Value("STATUS") }

// FDName returns FDNAME=, the name of the fds of FDSTORE=1.
func (m *Message) FDName() (string, bool) { return m.Value("FDNAME") }

// MainPID returns MAINPID=, the service's main process as the service
// sees it. It is not validated beyond being a positive integer: whether the
// sender may name that process is the caller's decision.
func (m *Message) MainPID() (int, bool) {
	v, ok := m.Value("MAINPID")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(v)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// Errno returns ERRNO=, the errno-style code of the service's failure.
func (m *Message) Errno() (int, bool) {
	v, ok := m.Value("ERRNO")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// WatchdogUSec returns WATCHDOG_USEC=, a new watchdog timeout.
func (m *Message) WatchdogUSec() (time.Duration, bool) { return m.usec("WATCHDOG_USEC") }

// ExtendTimeoutUSec returns EXTEND_TIMEOUT_USEC=: the service asks for
// this much more time, counted from now, for its current start, stop or
// reload.
func (m *Message) ExtendTimeoutUSec() (time.Duration, bool) { return m.usec("EXTEND_TIMEOUT_USEC") }

// MonotonicUSec returns MONOTONIC_USEC=, sent with RELOADING=1: the
// CLOCK_MONOTONIC time the reload began, as a duration since boot.
func (m *Message) MonotonicUSec() (time.Duration, bool) { return m.usec("MONOTONIC_USEC") }

// usec parses a field holding microseconds. Zero is valid (WATCHDOG_USEC=0
// is refused by systemd, but that is the caller's policy); values that
// overflow a time.Duration are refused.
func (m *Message) usec(key string) (time.Duration, bool) {
	v, ok := m.Value(key)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > uint64(1<<63-1)/uint64(time.Microsecond) {
		return 0, false
	}
	return time.Duration(n) * time.Microsecond, true
}

// closeFds closes every file left in m.Fds.
func (m *Message) closeFds() {
	for _, f := range m.Fds {
		if f != nil {
			f.Close()
		}
	}
	m.Fds = nil
}
