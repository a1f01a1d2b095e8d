package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// followPoll is how often Follow looks for new lines once it has read all.
var followPoll = 250 * time.Millisecond

// Tail returns the last n lines of DIR/NAME.log and, if it holds fewer, of
// the rotated files before it, oldest first, without their newlines. It
// reads backwards from the end, so its cost depends on n, not on the size
// of the files. n <= 0 returns no lines.
func Tail(dir, name string, n int) ([]string, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, err := os.Open(path(dir, name, 0))
	if err != nil {
		return nil, fmt.Errorf("tail log %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("tail log %s: %w", name, err)
	}
	return tail(dir, name, f, fi.Size(), n)
}

// tail returns the last n lines of cur's first size bytes and of the
// rotated files before it.
func tail(dir, name string, cur *os.File, size int64, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	lines, err := lastLines(cur, size, n)
	if err != nil {
		return nil, fmt.Errorf("tail log %s: %w", name, err)
	}
	for i := 1; len(lines) < n; i++ {
		f, err := os.Open(path(dir, name, i))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("tail log %s: %w", name, err)
		}
		var more []string
		fi, err := f.Stat()
		if err == nil {
			more, err = lastLines(f, fi.Size(), n-len(lines))
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("tail log %s: %w", name, err)
		}
		lines = append(more, lines...)
	}
	return lines, nil
}

// lastLines returns the last n lines of f's first size bytes. An
// unterminated last line counts as a line.
func lastLines(f *os.File, size int64, n int) ([]string, error) {
	const chunk = 32 << 10
	var data []byte
	off := size
	for off > 0 {
		k := min(chunk, off)
		off -= k
		b := make([]byte, k, k+int64(len(data)))
		if _, err := f.ReadAt(b, off); err != nil {
			return nil, err
		}
		data = append(b, data...)
		if bytes.Count(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) >= n {
			break
		}
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) == 0 && off == 0 {
		return nil, nil
	}
	lines := bytes.Split(data, []byte("\n"))
	if off > 0 {
		lines = lines[1:] // the first piece may be the end of a line
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(l)
	}
	return out, nil
}

// Follow calls emit with the last n lines, as Tail returns them, and then
// with every line written after them, following DIR/NAME.log across
// rotations, until ctx ends or emit fails. A line is passed on once its
// newline is written. If the writer rotates faster than Follow reads, a file
// deleted beyond the retention count before Follow reached it is skipped.
//
// Follow returns ctx.Err() when ctx ends, emit's error if it fails, or
// the error that stopped it reading.
func Follow(ctx context.Context, dir, name string, n int, emit func(line string) error) error {
	if err := checkName(name); err != nil {
		return err
	}
	f, err := os.Open(path(dir, name, 0))
	if err != nil {
		return fmt.Errorf("follow log %s: %w", name, err)
	}
	defer func() { f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("follow log %s: %w", name, err)
	}
	lines, err := tail(dir, name, f, fi.Size(), n)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := emit(l); err != nil {
			return err
		}
	}
	if _, err := f.Seek(fi.Size(), io.SeekStart); err != nil {
		return fmt.Errorf("follow log %s: %w", name, err)
	}

	var emitErr error
	s := splitter{max: 1 << 30}
	send := func(b []byte) {
		if emitErr == nil {
			emitErr = emit(string(b))
		}
	}
	buf := make([]byte, 64<<10)
	for {
		// Read to the end of the current file.
		for {
			k, err := f.Read(buf)
			s.write(buf[:k], send)
			if emitErr != nil {
				return emitErr
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("follow log %s: %w", name, err)
			}
		}
		next, err := successor(dir, name, f)
		if err != nil {
			return fmt.Errorf("follow log %s: %w", name, err)
		}
		if next != nil {
			// The writer flushed f before renaming it, and f was read
			// to its end after the rename was seen: f is complete.
			s.flush(send)
			if emitErr != nil {
				next.Close()
				return emitErr
			}
			f.Close()
			f = next
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(followPoll):
		}
	}
}

// successor returns the file written after f once f has been rotated away,
// or nil if f is still DIR/NAME.log, or if it cannot be placed right now
// (NAME.log missing for a moment, or rotations racing the search): the
// caller polls and asks again.
func successor(dir, name string, f *os.File) (*os.File, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	for range 10 {
		cur, err := os.Stat(path(dir, name, 0))
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if os.SameFile(cur, fi) {
			return nil, nil
		}
		rotated, err := rotatedIndexes(dir, name)
		if err != nil {
			return nil, err
		}
		if deleted(f) {
			// Deleted beyond retention before we got to the files
			// after it: go on with the oldest one left.
			if len(rotated) == 0 {
				return openIfExists(path(dir, name, 0))
			}
			return openIfExists(path(dir, name, rotated[len(rotated)-1]))
		}
		// f is NAME.log.i for some i: its successor is NAME.log.i-1.
		// Renames are atomic but a rotation shifts files while we
		// look, so check f is still at i once the successor is open.
		for _, i := range rotated {
			st, err := os.Stat(path(dir, name, i))
			if err != nil || !os.SameFile(st, fi) {
				continue
			}
			next, err := openIfExists(path(dir, name, i-1))
			if next == nil || err != nil {
				return nil, err
			}
			if st, err := os.Stat(path(dir, name, i)); err == nil && os.SameFile(st, fi) {
				return next, nil
			}
			next.Close()
			break
		}
	}
	return nil, nil
}

// rotatedIndexes returns the i of every NAME.log.i in dir, ascending.
func rotatedIndexes(dir, name string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var idx []int
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), name+".log.")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(s); err == nil && i > 0 && strconv.Itoa(i) == s {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	return idx, nil
}

func openIfExists(p string) (*os.File, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return f, err
}
