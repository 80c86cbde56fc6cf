package main

import (
	"cmp"
	"fmt"
	"slices"
)

// memoryChat is the chat on one machine, the default: everyone is in this
// process, so every operation is done in memory under Server.mu. Holding
// that one lock while a line is put in every queue gives all users the
// same order (fix 4); putting it in a queue never waits for a socket
// (fix 8).
type memoryChat struct{ s *Server }

func (c memoryChat) join(u *User) error {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errClosing
	}
	// A default name is the address, which no rename can take (names have
	// no ':'). Only a client reconnecting from the same port before its old
	// connection has been noticed as gone can find it taken.
	name := u.Addr
	for i := 2; s.OnlineMap[name] != nil || s.takenLocked(nameKeys(name), u); i++ {
		name = fmt.Sprintf("%s#%d", u.Addr, i)
	}
	s.OnlineMap[name] = u
	u.Name = name
	s.claimLocked(u, nameKeys(name))
	c.broadcastLocked(presenceLine(u, "已上线"))
	return nil
}

// leftLocked: u is out of OnlineMap, so no broadcast reaches it any more.
// During a shutdown everyone is leaving and hears why: no 下线.
func (c memoryChat) leftLocked(u *User) []byte {
	if c.s.closing {
		return nil
	}
	return presenceLine(u, "下线")
}

func (c memoryChat) leave(u *User, line []byte) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if line != nil && !s.closing {
		c.broadcastLocked(line)
	}
	s.releaseKeysLocked(u)
}

func (c memoryChat) say(line []byte) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.broadcastLocked(line)
}

// broadcastLocked puts line in every online user's queue; Server.mu is held.
func (c memoryChat) broadcastLocked(line []byte) {
	for _, u := range c.s.OnlineMap {
		u.send(line) // never blocks: see User.send
	}
}

// tell finds the recipient when the line is read, so that its inbox, not
// the sender's, pays before delivery.
func (c memoryChat) tell(u *User, name, line string) delivery {
	s := c.s
	s.mu.Lock()
	to := s.OnlineMap[name]
	s.mu.Unlock()
	if to == nil {
		return u.reply(replyNoUser)
	}
	return delivery{len(line), to.inbox, func() { c.sendTo(u, to, line) }}
}

// sendTo delivers line, a private message from u, to to, whose inbox has
// paid for it, if to is still online under the name u's line gave.
func (c memoryChat) sendTo(u, to *User, line string) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.OnlineMap[to.Name] != to {
		u.SendMsg(replyNoUser)
		return
	}
	to.SendMsg(line)
}

// rename checks and changes under one lock (fix 5), so two users can never
// end up with one name, and the map and the name never disagree. Renaming
// to a name that looks like one's own is allowed.
func (c memoryChat) rename(u *User, name string) {
	s := c.s
	keys := nameKeys(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.takenLocked(keys, u) {
		u.SendMsg(replyNameUsed)
		return
	}
	delete(s.OnlineMap, u.Name)
	u.Name = name
	s.OnlineMap[name] = u
	s.claimLocked(u, keys)
	u.SendMsg(fmt.Sprintf(replyRenamed, name))
}

// who sends one "[addr]name: 在线..." line per online user by name, in
// pages each paid from u's inbox before it is queued. So a list longer
// than Config.QueueBytes still arrives (red team 3), asking costs the room
// nothing (red team 4), and a user waiting for its inbox holds no list.
// Each page is taken when it is sent: someone who joins, leaves or renames
// meanwhile may be listed by either name, or not at all.
func (c memoryChat) who(u *User) {
	size := min(c.s.cfg.Burst, whoPageBytes)
	for after := ""; ; { // every name sorts after ""
		page, last := c.whoPage(after, size)
		if len(page) == 0 || !spend(u.inbox, len(page), u.done) {
			return
		}
		u.send(page)
		after = last
	}
}

// whoPage returns the who lines of the online users whose names sort after
// after, in name order, as many as fit in size bytes (at least one), and
// the last name on the page; nil once nobody is left.
func (c memoryChat) whoPage(after string, size int) (page []byte, last string) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	users := make([]*User, 0, len(s.OnlineMap))
	for name, o := range s.OnlineMap {
		if name > after {
			users = append(users, o)
		}
	}
	slices.SortFunc(users, func(a, b *User) int { return cmp.Compare(a.Name, b.Name) })
	for _, o := range users {
		line := "[" + o.Addr + "]" + o.Name + ": " + replyOnline + "\n"
		if len(page) > 0 && len(page)+len(line) > size {
			break
		}
		page, last = append(page, line...), o.Name
	}
	return page, last
}
