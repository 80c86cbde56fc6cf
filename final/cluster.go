package main

import "strings"

// A cluster is one chat served by several instances of final (issue 15).
// It is the seam between the server and whatever carries the chat between
// instances: the few operations whose effect reaches beyond this process.
// A Server with no cluster (the default, `go run ./final`) does them in
// memory under its one lock, as server.go always has; natsRoom
// (cluster_nats.go) does them through NATS. No NATS type crosses this
// seam, so user.go and the line reader know nothing of it.
//
// Each method is called on the user's own reader goroutine, never with
// Server.mu held, so it may wait for the network.
type cluster interface {
	// join gives u, admitted, a name unique in the whole chat and announces
	// it to everyone, or returns the rejection to turn u away with. It is
	// responsible for Server.joining (see Online).
	join(u *User) error
	// leftLocked takes u off this instance's delivery list; Server.mu is
	// held. It returns u's 下线 line, which leave then announces.
	leftLocked(u *User) []byte
	// leave announces line (u's 下线) to everyone and frees u's name.
	leave(u *User, line []byte)
	// say puts line, u's broadcast, in the chat's one order.
	say(line []byte)
	// tell delivers line, a private message from u, to the user called
	// name on whichever instance, once that user's inbox has paid for it
	// (u waits meanwhile, as on one machine); replyNoUser, paid from u's
	// inbox, when nobody has that name.
	tell(u *User, name, line string)
	// rename gives u the name if nobody in the chat has one like it.
	rename(u *User, name string)
	// who is the "在线..." list of every user on every instance, by name.
	who() string
}

// sendWhoList sends u a who list read from the cluster in pages, as
// sendWho does: each page at most min(Burst, whoPageBytes) bytes (and at
// least one line), paid from u's inbox before it is queued.
func (s *Server) sendWhoList(u *User, list string) {
	size := min(s.cfg.Burst, whoPageBytes)
	for list != "" {
		n := 0
		for n < len(list) {
			end := len(list)
			if i := strings.IndexByte(list[n:], '\n'); i >= 0 {
				end = n + i + 1
			}
			if n > 0 && end > size {
				break
			}
			n = end
		}
		if !spend(u.inbox, n, u.done) {
			return
		}
		u.SendMsg(list[:n])
		list = list[n:]
	}
}
