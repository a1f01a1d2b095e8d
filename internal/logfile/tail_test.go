package logfile

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// stripStamps removes the time stamps Tail and Follow return with lines.
func stripStamps(t *testing.T, lines []string) []string {
	t.Helper()
	if lines == nil {
		return nil
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		stamp, rest, ok := strings.Cut(l, " ")
		if !ok || len(stamp) != stampLen {
			t.Fatalf("line %q: no time stamp", l)
		}
		out[i] = rest
	}
	return out
}

func writeLines(t *testing.T, w *Writer, lines []string) {
	t.Helper()
	for _, l := range lines {
		if err := w.WriteLine("", []byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestTail(t *testing.T) {
	dir := t.TempDir()
	// 10 lines a file: 100 lines make svc.log.9 … svc.log.1 and svc.log.
	w := open(t, dir, "svc", Options{MaxSize: 360, Keep: 100})
	writeLines(t, w, numbered(1, 100))
	// A big file too, so Tail reads it backwards in several chunks.
	big := open(t, dir, "big", Options{MaxSize: 1 << 30})
	writeLines(t, big, numbered(1, 5000))

	tests := []struct {
		name string
		file string
		n    int
		want []string
	}{
		{"within the current file", "svc", 3, numbered(98, 100)},
		{"exactly the current file", "svc", 10, numbered(91, 100)},
		{"across rotated files", "svc", 35, numbered(66, 100)},
		{"more than there is", "svc", 1000, numbered(1, 100)},
		{"none", "svc", 0, nil},
		{"many chunks back", "big", 4000, numbered(1001, 5000)},
		{"last of a big file", "big", 1, numbered(5000, 5000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Tail(dir, tt.file, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, stripStamps(t, got)); diff != "" {
				t.Errorf("Tail(%s, %d) (-want +got):\n%s", tt.file, tt.n, diff)
			}
		})
	}
	if _, err := Tail(dir, "missing", 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Tail of a missing log: got %v, want ErrNotExist", err)
	}
}

func TestTailEmptyAndPartial(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(path(dir, "empty", 0), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if got, err := Tail(dir, "empty", 5); err != nil || len(got) != 0 {
		t.Errorf("Tail of an empty log: got %q, %v, want nothing", got, err)
	}
	if err := os.WriteFile(path(dir, "part", 0), []byte("a\nb\nhalf"), 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := Tail(dir, "part", 2)
	if diff := cmp.Diff([]string{"b", "half"}, got); err != nil || diff != "" {
		t.Errorf("Tail of a log ending mid-line (-want +got), %v:\n%s", err, diff)
	}
}

// TestFollow follows a log while it is written and rotated many times,
// faster than Follow polls: every line arrives once, in order.
func TestFollow(t *testing.T) {
	old := followPoll
	followPoll = 5 * time.Millisecond
	t.Cleanup(func() { followPoll = old })

	dir := t.TempDir()
	w := open(t, dir, "svc", Options{MaxSize: 360, Keep: 1000})
	writeLines(t, w, numbered(1, 25))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, dir, "svc", 5, func(l string) error {
			select {
			case lines <- l:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	recv := func(from, to int) {
		t.Helper()
		for _, want := range numbered(from, to) {
			// Checked line by line: a skipped line fails here at
			// once rather than leaving the test waiting for it.
			if got := stripStamps(t, []string{<-lines})[0]; got != want {
				t.Fatalf("followed line: got %q, want %q", got, want)
			}
		}
	}
	recv(21, 25) // the last 5, across svc.log.1 and svc.log
	for from := 26; from <= 2000; from += 75 {
		writeLines(t, w, numbered(from, from+74)) // several rotations at once
		recv(from, from+74)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Follow after cancel: got %v, want context.Canceled", err)
	}
	select {
	case l := <-lines:
		t.Errorf("extra line followed: %q", l)
	default:
	}
}

func TestFollowEmitError(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, "svc", Options{})
	writeLines(t, w, numbered(1, 3))
	stop := errors.New("reader gone")
	err := Follow(context.Background(), dir, "svc", 10, func(string) error { return stop })
	if err != stop {
		t.Errorf("Follow: got %v, want emit's error", err)
	}
}

// TestFollowFallsBehind: a follower slower than retention loses the files
// deleted before it reached them, and goes on with the oldest left, never
// repeating or reordering a line.
func TestFollowFallsBehind(t *testing.T) {
	old := followPoll
	followPoll = 5 * time.Millisecond
	t.Cleanup(func() { followPoll = old })

	dir := t.TempDir()
	w := open(t, dir, "svc", Options{MaxSize: 360, Keep: 2})
	writeLines(t, w, numbered(1, 1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := make(chan string) // unbuffered: the follower waits for us
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, dir, "svc", 1, func(l string) error {
			select {
			case lines <- l:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	first := stripStamps(t, []string{<-lines})[0] // the follower holds svc.log open, and waits
	writeLines(t, w, numbered(2, 200))
	got := []string{first}
	for got[len(got)-1] != "line 00200" {
		got = append(got, stripStamps(t, []string{<-lines})[0])
		if n := len(got); got[n-1] <= got[n-2] {
			t.Fatalf("followed %q after %q: want later lines only", got[n-1], got[n-2])
		}
	}
	if len(got) >= 200 {
		t.Errorf("followed %d lines: want the ones deleted beyond retention skipped", len(got))
	}
	// 10 lines a file, 3 files kept: lines 171..200 must all be there.
	if diff := cmp.Diff(numbered(171, 200), got[len(got)-30:]); diff != "" {
		t.Errorf("last lines (-want +got):\n%s", diff)
	}
	cancel()
	<-done
}
