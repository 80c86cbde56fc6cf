package proc

import (
	"io"
	"sync"
)

// Stream accumulates everything read from one source (a client connection
// or the server's console) so that steps can wait for bytes to arrive.
// Bytes are never dropped: a transcript accounts for all of them.
type Stream struct {
	mu      sync.Mutex
	buf     []byte
	err     error         // why reading stopped (io.EOF for a clean end); nil while open
	changed chan struct{} // closed, then replaced, whenever buf or err changes
	ended   chan struct{} // closed once reading has stopped
}

// NewStream starts copying r into a new Stream until r returns an error.
func NewStream(r io.Reader) *Stream {
	s := &Stream{changed: make(chan struct{}), ended: make(chan struct{})}
	go s.fill(r)
	return s
}

func (s *Stream) fill(r io.Reader) {
	chunk := make([]byte, 64*1024)
	for {
		n, err := r.Read(chunk)
		s.mu.Lock()
		s.buf = append(s.buf, chunk[:n]...)
		if err != nil {
			s.err = err
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if err != nil {
			close(s.ended)
			return
		}
	}
}

// Done is closed once reading has stopped.
func (s *Stream) Done() <-chan struct{} { return s.ended }

// Snapshot returns the bytes so far (not to be changed), a channel that
// is closed on the next change, and the read error if reading has
// stopped.
func (s *Stream) Snapshot() ([]byte, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf[:len(s.buf):len(s.buf)], s.changed, s.err
}

// Bytes returns a copy of everything received so far.
func (s *Stream) Bytes() []byte {
	data, _, _ := s.Snapshot()
	return append([]byte(nil), data...)
}

// Closed returns the error that ended reading, or nil while still open.
func (s *Stream) Closed() error {
	_, _, err := s.Snapshot()
	return err
}
