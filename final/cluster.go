package main

import "strings"

// A cluster is the chat as a Server sees it: the few operations whose
// effect reaches beyond the user who asks (issue 15). It has two
// implementations. memoryChat (cluster_memory.go) is the default, `go run
// ./final`: the whole chat is this process, held in memory under
// Server.mu. natsChat (cluster_nats.go) is one chat over several instances
// of final, through NATS. No NATS type crosses this seam, so server.go,
// user.go and the line reader know nothing of it.
//
// Either way the Server holds this process's users: OnlineMap and byKey,
// which an implementation fills in under Server.mu as it gives names
// (claimLocked) and frees in leave (releaseKeysLocked); Offline takes a
// user out of OnlineMap. The places MaxUsers counts are the Server's
// alone (Server.places), so no implementation touches them.
//
// Lock rules: leftLocked is called with Server.mu held and must not block.
// Every other method is called without it, on the reader goroutine of the
// user it serves (say and tell: the sender's), and may block: for the
// lock, for budgets, for the network. A method that waits for a budget
// stops waiting when u.done closes.
type cluster interface {
	// join puts u, admitted, online under a name unique in the whole chat
	// (its address, or the address with "#N") and announces its 已上线 to
	// everyone, or returns the rejection to turn u away with (errClosing
	// during a shutdown).
	join(u *User) error
	// leftLocked stops delivering to u, which Offline has just taken out
	// of OnlineMap, and returns u's 下线 line for leave, or nil if there is
	// nobody to tell. Server.mu is held.
	leftLocked(u *User) []byte
	// leave announces line, if not nil, to everyone and frees u's name.
	// The line has been paid for, unless a shutdown began meanwhile: then
	// only users outside this process still need to hear it.
	leave(u *User, line []byte)
	// say puts line, a broadcast Server.room has paid for, in every
	// user's queue, in the chat's one order.
	say(line []byte)
	// tell plans line, a private message from u to the user called name
	// (see delivery): the recipient's inbox pays before it is delivered,
	// as u waits; replyNoUser, paid from u's inbox, when nobody has that
	// name.
	tell(u *User, name, line string) delivery
	// rename gives u the name if nobody in the chat has one that looks
	// like it, and tells u either way. u's inbox has paid for the reply.
	rename(u *User, name string)
	// who sends u the "在线..." list of every user in the chat, by name,
	// in pages of at most min(Burst, whoPageBytes) bytes, each paid from
	// u's inbox before it is queued.
	who(u *User)
}

// whoPageBytes bounds one page of a who reply (see memoryChat.who).
const whoPageBytes = 16 << 10

// sendWhoList sends u a who list read from the cluster in pages, as
// memoryChat.who does: each page at most min(Burst, whoPageBytes) bytes
// (and at least one line), paid from u's inbox before it is queued.
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
