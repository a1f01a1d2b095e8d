package logfile

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readLog returns the lines of one log file, time stamps removed, checking
// each stamp's format on the way.
func readLog(t *testing.T, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		stamp, rest, ok := strings.Cut(sc.Text(), " ")
		if _, err := time.Parse(timeLayout, stamp); !ok || err != nil || !strings.HasSuffix(stamp, "Z") || len(stamp) != stampLen {
			t.Fatalf("%s: line %q: no UTC millisecond time stamp", p, sc.Text())
		}
		lines = append(lines, rest)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// readAll returns the lines of NAME.log.k … NAME.log.1, NAME.log, oldest
// first, and how many rotated files there were.
func readAll(t *testing.T, dir, name string) ([]string, int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rotated := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+".log.") {
			rotated++
		}
	}
	var all []string
	for i := rotated; i >= 0; i-- {
		all = append(all, readLog(t, path(dir, name, i))...)
	}
	return all, rotated
}

func open(t *testing.T, dir, name string, opt Options) *Writer {
	t.Helper()
	w, err := Open(dir, name, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func numbered(from, to int) []string {
	var l []string
	for i := from; i <= to; i++ {
		l = append(l, fmt.Sprintf("line %05d", i))
	}
	return l
}

func TestWriteLineFormat(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, "web", Options{})
	before := time.Now().Truncate(time.Millisecond)
	for _, c := range []struct{ tag, line string }{
		{"", "hello"},
		{"vinit", "started pid 42"},
		{"", "two\nlines\n"},
		{"", ""},
	} {
		if err := w.WriteLine(c.tag, []byte(c.line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "web.log"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (.*)$`)
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q: want \"YYYY-MM-DDTHH:MM:SS.mmmZ text\"", l)
		}
		ts, _ := time.Parse(timeLayout, l[:stampLen])
		if ts.Before(before) {
			t.Errorf("line %q: stamp %v before the write began (%v)", l, ts, before)
		}
		got = append(got, m[1])
	}
	want := []string{"hello", "vinit started pid 42", "two", "lines", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if err := w.WriteLine("", []byte("late")); err == nil {
		t.Error("WriteLine after Close: got nil error")
	}
}

func TestOpenRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "../x"} {
		if w, err := Open(t.TempDir(), name, Options{}); err == nil {
			w.Close()
			t.Errorf("Open(%q): got nil error", name)
		}
	}
}

// TestRotationLosesNothing writes numbered lines across many rotations
// with a retention that keeps every file: together the files must hold
// exactly 1..N, in order, each file within MaxSize.
func TestRotationLosesNothing(t *testing.T) {
	const n = 2000
	dir := t.TempDir()
	opt := Options{MaxSize: 4096, Keep: 1000}
	w := open(t, dir, "svc", opt)
	for i, l := range numbered(1, n) {
		if err := w.WriteLine("", []byte(l)); err != nil {
			t.Fatal(err)
		}
		if i%97 == 0 { // flush at odd points too
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, rotated := readAll(t, dir, "svc")
	if diff := cmp.Diff(numbered(1, n), got); diff != "" {
		t.Errorf("lines across all files (-want +got):\n%s", diff)
	}
	// Each line is 24+1+10+1 = 36 bytes; 2000 of them are 72000 bytes.
	if min := 72000/4096 - 1; rotated < min {
		t.Errorf("rotated files: got %d, want at least %d", rotated, min)
	}
	for i := 0; i <= rotated; i++ {
		fi, err := os.Stat(path(dir, "svc", i))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > opt.MaxSize {
			t.Errorf("%s: %d bytes, over MaxSize %d", fi.Name(), fi.Size(), opt.MaxSize)
		}
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, "svc", Options{MaxSize: 360, Keep: 2}) // 10 lines a file
	for _, l := range numbered(1, 95) {
		if err := w.WriteLine("", []byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"svc.log", "svc.log.1", "svc.log.2"}, names); diff != "" {
		t.Errorf("files kept (-want +got):\n%s", diff)
	}
	got, _ := readAll(t, dir, "svc")
	if diff := cmp.Diff(numbered(71, 95), got); diff != "" {
		t.Errorf("lines kept (-want +got):\n%s", diff)
	}
}

func TestReopenAppends(t *testing.T) {
	dir := t.TempDir()
	opt := Options{MaxSize: 360, Keep: 10}
	w := open(t, dir, "svc", opt)
	for _, l := range numbered(1, 5) {
		w.WriteLine("", []byte(l))
	}
	w.Close()
	w = open(t, dir, "svc", opt)
	for _, l := range numbered(6, 12) {
		w.WriteLine("", []byte(l))
	}
	w.Close()
	got, rotated := readAll(t, dir, "svc")
	if diff := cmp.Diff(numbered(1, 12), got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	// The reopened file counted its 5 old lines: line 11 starts svc.log.
	if first := readLog(t, path(dir, "svc", 0)); rotated != 1 || first[0] != "line 00011" {
		t.Errorf("after reopen: got %d rotated files and svc.log starting %q, want 1 and \"line 00011\"", rotated, first[0])
	}
}

func TestConcurrentWriteLine(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, "svc", Options{MaxSize: 8192, Keep: 1000})
	const writers, each = 4, 500
	done := make(chan struct{})
	for g := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				w.WriteLine(strconv.Itoa(g), []byte(fmt.Sprintf("%05d", i)))
			}
		}()
	}
	for range writers {
		<-done
	}
	w.Close()
	got, _ := readAll(t, dir, "svc")
	next := make(map[string]int)
	for _, l := range got {
		tag, num, _ := strings.Cut(l, " ")
		if want := fmt.Sprintf("%05d", next[tag]); num != want {
			t.Fatalf("writer %s: got line %q, want %s", tag, num, want)
		}
		next[tag]++
	}
	for g := range writers {
		if next[strconv.Itoa(g)] != each {
			t.Errorf("writer %d: got %d lines, want %d", g, next[strconv.Itoa(g)], each)
		}
	}
}
