package chattest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"im-workbook/chattest/proc"
)

// Watch reads a [proc.Stream] in order, as a person reads a terminal or nc's
// output: each check starts where the previous one ended. Several Watches
// may read one Stream, each from its own place: for example one following
// a client's own prompts and one following what its server sends, when
// the program does not fix how the two interleave.
type Watch struct {
	name string // for messages
	s    *proc.Stream
	pos  int // bytes of s already accounted for
}

// NewWatch reads s from its start; name says whose stream it is in
// failure messages.
func NewWatch(name string, s *proc.Stream) *Watch {
	return &Watch{name: name, s: s}
}

// Fork returns another Watch of the same stream, from the same place.
func (w *Watch) Fork(name string) *Watch {
	return &Watch{name: name, s: w.s, pos: w.pos}
}

// unread returns the bytes that have arrived after the watch's place.
func (w *Watch) unread() string {
	data, _, _ := w.s.Snapshot()
	return string(data[w.pos:])
}

// Skip moves the watch's place past every byte that has arrived and
// returns them.
func (w *Watch) Skip() string {
	rest := w.unread()
	w.pos += len(rest)
	return rest
}

// wait calls done on the unread bytes until it reports how many of them
// it accounts for (ok), the stream ends, or Patience runs out.
func (w *Watch) wait(done func(rest []byte) (n int, ok bool)) error {
	deadline := time.NewTimer(Patience)
	defer deadline.Stop()
	for {
		data, changed, err := w.s.Snapshot()
		if n, ok := done(data[w.pos:]); ok {
			w.pos += n
			return nil
		}
		if err != nil {
			return fmt.Errorf("the stream ended (%v); unread: %q", err, data[w.pos:])
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("nothing matched within %v; unread: %q", Patience, w.unread())
		}
	}
}

// Expect waits until text arrives after the watch's place, moves past it,
// and returns the bytes before it that it skipped.
func (w *Watch) Expect(t testing.TB, text string) (skipped string) {
	t.Helper()
	err := w.wait(func(rest []byte) (int, bool) {
		i := bytes.Index(rest, []byte(text))
		if i < 0 {
			return 0, false
		}
		skipped = string(rest[:i])
		return i + len(text), true
	})
	if err != nil {
		t.Fatalf("%s: waiting for %q: %v", w.name, text, err)
	}
	return skipped
}

// ExpectAll waits until every one of texts has arrived after the watch's
// place, in any order (say, lines whose order the server does not fix,
// with a program's own output possibly between them), and moves past the
// last of them.
func (w *Watch) ExpectAll(t testing.TB, texts ...string) {
	t.Helper()
	err := w.wait(func(rest []byte) (int, bool) {
		end := 0
		for _, text := range texts {
			i := bytes.Index(rest, []byte(text))
			if i < 0 {
				return 0, false
			}
			end = max(end, i+len(text))
		}
		return end, true
	})
	if err != nil {
		t.Fatalf("%s: waiting for all of %q: %v", w.name, texts, err)
	}
}

// Line waits for the next complete line and returns it, with its "\n".
func (w *Watch) Line(t testing.TB) string {
	t.Helper()
	var line string
	err := w.wait(func(rest []byte) (int, bool) {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return 0, false
		}
		line = string(rest[:i+1])
		return i + 1, true
	})
	if err != nil {
		t.Fatalf("%s: waiting for a line: %v", w.name, err)
	}
	return line
}

// Next fails unless the next bytes to arrive are exactly text.
func (w *Watch) Next(t testing.TB, text string) {
	t.Helper()
	var got string
	err := w.wait(func(rest []byte) (int, bool) {
		got = string(rest[:min(len(rest), len(text))])
		// Stop at the first wrong byte: more bytes cannot make it right.
		return len(got), len(got) == len(text) || !bytes.HasPrefix([]byte(text), []byte(got))
	})
	if err != nil {
		t.Fatalf("%s: waiting for %q: %v", w.name, text, err)
	}
	if got != text {
		t.Fatalf("%s: next bytes (-want +got):\n%s", w.name, cmp.Diff(text, got))
	}
}

// NextLines fails unless the next lines to arrive are exactly lines, in
// any order (for output whose order the program does not fix, such as
// the iteration of a map).
func (w *Watch) NextLines(t testing.TB, lines ...string) {
	t.Helper()
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	var got string
	err := w.wait(func(rest []byte) (int, bool) {
		if len(rest) < n {
			return 0, false
		}
		got = string(rest[:n])
		return n, true
	})
	if err != nil {
		t.Fatalf("%s: waiting for %q: %v", w.name, lines, err)
	}
	if want, got := sorted(lines), sorted(splitLines(got)); !slices.Equal(want, got) {
		t.Fatalf("%s: next lines, in any order (-want +got, sorted):\n%s", w.name, cmp.Diff(want, got))
	}
}

// Nothing fails if any byte arrives after the watch's place within [Quiet].
func (w *Watch) Nothing(t testing.TB) {
	t.Helper()
	time.Sleep(Quiet)
	if rest := w.unread(); rest != "" {
		t.Fatalf("%s: expected nothing more, got %q", w.name, rest)
	}
}

// Ended waits up to [Patience] for the stream to end (the peer closed the
// connection, or the program's output closed) and fails if bytes arrived
// that the watch has not accounted for.
func (w *Watch) Ended(t testing.TB) {
	t.Helper()
	var rest string
	err := w.wait(func(r []byte) (int, bool) {
		rest = string(r)
		return 0, rest != "" || w.s.Closed() != nil
	})
	if err != nil {
		t.Fatalf("%s: waiting for the end: %v", w.name, err)
	}
	if rest != "" {
		t.Fatalf("%s: unread bytes before the end: %q", w.name, rest)
	}
}

// ReadToEnd waits up to [Patience] for the stream to end and returns
// every byte after the watch's place, moving past them.
func (w *Watch) ReadToEnd(t testing.TB) string {
	t.Helper()
	var rest string
	err := w.wait(func(r []byte) (int, bool) {
		rest = string(r)
		return len(r), w.s.Closed() != nil
	})
	if err != nil {
		t.Fatalf("%s: waiting for the end: %v", w.name, err)
	}
	return rest
}
