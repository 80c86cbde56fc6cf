package chattest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

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
	cursor
}

// NewWatch reads s from its start; name says whose stream it is in
// failure messages.
func NewWatch(name string, s *proc.Stream) *Watch {
	return &Watch{name: name, cursor: cursor{s: s}}
}

// Fork returns another Watch of the same stream, from the same place.
func (w *Watch) Fork(name string) *Watch {
	return &Watch{name: name, cursor: w.cursor}
}

// Skip moves the watch's place past every byte that has arrived and
// returns them.
func (w *Watch) Skip() string {
	rest, _, _ := w.unread()
	w.pos += len(rest)
	return rest
}

// wait is cursor.wait, with what was left unread in its error.
func (w *Watch) wait(check func(rest string) (int, verdict)) error {
	if rest, err := w.cursor.wait(check); err != nil {
		return fmt.Errorf("%v; unread: %q", err, rest)
	}
	return nil
}

// Expect waits until text arrives after the watch's place, moves past it,
// and returns the bytes before it that it skipped.
func (w *Watch) Expect(t testing.TB, text string) (skipped string) {
	t.Helper()
	err := w.wait(func(rest string) (int, verdict) {
		i := strings.Index(rest, text)
		if i < 0 {
			return 0, waiting
		}
		skipped = rest[:i]
		return i + len(text), found
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
	err := w.wait(func(rest string) (int, verdict) {
		end := 0
		for _, text := range texts {
			i := strings.Index(rest, text)
			if i < 0 {
				return 0, waiting
			}
			end = max(end, i+len(text))
		}
		return end, found
	})
	if err != nil {
		t.Fatalf("%s: waiting for all of %q: %v", w.name, texts, err)
	}
}

// Line waits for the next complete line and returns it, with its "\n".
func (w *Watch) Line(t testing.TB) string {
	t.Helper()
	var line string
	err := w.wait(func(rest string) (int, verdict) {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			return 0, waiting
		}
		line = rest[:i+1]
		return i + 1, found
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
	err := w.wait(func(rest string) (int, verdict) {
		got = rest[:min(len(rest), len(text))]
		// Stop at the first wrong byte: more bytes cannot make it right.
		if len(got) == len(text) || !strings.HasPrefix(text, got) {
			return len(got), found
		}
		return 0, waiting
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
	err := w.wait(func(rest string) (int, verdict) {
		if len(rest) < n {
			return 0, waiting
		}
		got = rest[:n]
		return n, found
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
	if rest := w.nothing(); rest != "" {
		t.Fatalf("%s: expected nothing more, got %q", w.name, rest)
	}
}

// Ended waits up to [Patience] for the stream to end (the peer closed the
// connection, or the program's output closed) and fails if bytes arrived
// that the watch has not accounted for.
func (w *Watch) Ended(t testing.TB) {
	t.Helper()
	rest, err := w.ended()
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
	rest, err := w.toEnd()
	if err != nil {
		t.Fatalf("%s: waiting for the end: %v", w.name, err)
	}
	return rest
}
