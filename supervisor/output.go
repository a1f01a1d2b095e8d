package supervisor

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
)

// console serialises whole lines from many services onto one writer.
type console struct {
	mu sync.Mutex
	w  io.Writer
}

func (c *console) line(prefix string, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, "%s | %s\n", prefix, b)
}

// output is a service's stdout and stderr: a pipe whose write end every
// process of the service inherits, held open by the supervisor across
// restarts, and whose read end is copied line by line to the console.
type output struct {
	w    *os.File // given to the children
	done chan struct{}
}

func newOutput(name string, c *console) (*output, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create output pipe of %s: %w", name, err)
	}
	o := &output{w: w, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		defer r.Close()
		br := bufio.NewReaderSize(r, 16*1024)
		for {
			// A line longer than the buffer is written in pieces.
			b, err := br.ReadSlice('\n')
			if len(b) > 0 {
				c.line(name, bytes.TrimSuffix(b, []byte("\n")))
			}
			if err != nil && err != bufio.ErrBufferFull {
				return
			}
		}
	}()
	return o, nil
}
