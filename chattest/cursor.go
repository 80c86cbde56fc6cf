package chattest

import (
	"errors"
	"fmt"
	"time"

	"im-workbook/chattest/proc"
)

// A cursor is a reader's place in a [proc.Stream]: the transcript engine
// and [Watch] both read through one. What it reads is the stream's bytes
// as view renders them, and pos counts the text already accounted for.
type cursor struct {
	s    *proc.Stream
	pos  int
	view func([]byte) string // nil: the bytes as they are
	skip func(string) int    // how much at the front of the unread text to pass over; nil: none
}

// unread returns the text after the cursor's place (past anything skip
// passes over), a channel closed when more arrives, and the read error
// once the stream has ended.
func (c *cursor) unread() (string, <-chan struct{}, error) {
	data, changed, err := c.s.Snapshot()
	var rest string
	if c.view != nil {
		rest = c.view(data)[c.pos:]
	} else {
		rest = string(data[c.pos:])
	}
	if c.skip != nil {
		n := c.skip(rest)
		c.pos += n
		rest = rest[n:]
	}
	return rest, changed, err
}

// A verdict is what a check makes of the unread text.
type verdict int

const (
	waiting  verdict = iota // it may yet arrive: wait for more
	found                   // the wait is over
	doubtful                // it will not arrive unless more comes within settle
)

// Why a wait ended without finding what it waited for (besides Patience).
var (
	errEnded = errors.New("the stream ended")
	errQuiet = errors.New("nothing more arrived")
)

// wait calls check on the unread text now and each time more arrives,
// until check says found (nil error), the stream ends, Patience runs
// out, or check says doubtful and nothing more arrives within settle.
// It moves past the first n bytes of the text once check finds it, and
// returns the text check was last given.
func (c *cursor) wait(check func(rest string) (n int, v verdict)) (string, error) {
	deadline := time.NewTimer(Patience)
	defer deadline.Stop()
	for {
		rest, changed, err := c.unread()
		n, v := check(rest)
		if v == found {
			c.pos += n
			return rest, nil
		}
		if err != nil {
			return rest, fmt.Errorf("%w (%v)", errEnded, err)
		}
		var quiet <-chan time.Time
		if v == doubtful {
			quiet = time.After(settle)
		}
		select {
		case <-changed:
		case <-quiet:
			return rest, errQuiet
		case <-deadline.C:
			return rest, fmt.Errorf("waiting %v", Patience)
		}
	}
}

// nothing waits Quiet and returns whatever arrived unread meanwhile.
func (c *cursor) nothing() string {
	time.Sleep(Quiet)
	rest, _, _ := c.unread()
	return rest
}

// ended waits for the stream to end and returns any text that arrived
// unread before it ("" when it ended with everything accounted for).
func (c *cursor) ended() (string, error) {
	rest, err := c.wait(func(rest string) (int, verdict) {
		if rest != "" {
			return 0, found
		}
		return 0, waiting
	})
	if errors.Is(err, errEnded) {
		err = nil
	}
	return rest, err
}

// toEnd waits for the stream to end and moves past everything that
// arrived, which it returns, even if it gave up waiting.
func (c *cursor) toEnd() (string, error) {
	rest, err := c.wait(func(string) (int, verdict) { return 0, waiting })
	c.pos += len(rest)
	if errors.Is(err, errEnded) {
		err = nil
	}
	return rest, err
}
