package load

import (
	"bytes"
	"strings"
)

// A Dialect is what a server says around the lines it relays.
type Dialect struct {
	// Echo: the server sends a sender its own lines too (the chapters do,
	// ncat --chat does not).
	Echo bool
	// KeepAlive is a line a reader can send now and then that the server
	// answers to that reader alone, so that an idle kick (chapter 08: 10 s)
	// does not hit readers that only listen; nil: none needed.
	KeepAlive []byte
	// SlowAccept: the server listens with a small backlog (ncat --chat:
	// 10), so dialled faster than it welcomes users it drops connections
	// (the kernel counts ListenOverflows) and clients wait a second per
	// retry. An idle run then paces its dials as the other runs always do.
	SlowAccept bool
	// Joined reports whether a line announces that a user came online.
	Joined func(line string) bool
	// Attributed reports whether head, the text in front of a relayed
	// line's token, names its sender as the server's protocol says
	// ("[addr]name: ").
	Attributed func(head []byte) bool
}

// The chapters: "[127.0.0.1:5000]127.0.0.1:5000: 已上线" on joining, every
// line relayed as "[addr]name: text", the sender included.
var tutorial = &Dialect{
	Echo:       true,
	KeepAlive:  []byte("who\n"),
	Joined:     func(l string) bool { return strings.HasPrefix(l, "[") && strings.HasSuffix(l, ": 已上线") },
	Attributed: func(h []byte) bool { return bytes.HasPrefix(h, []byte("[")) && bytes.HasSuffix(h, []byte(": ")) },
}

// ncat --chat: "<announce> 127.0.0.1 is connected as <user5>." on joining
// (the newcomer gets its own announcement too), every chunk it reads from
// a client relayed to the others only, as "<user5> text".
var ncat = &Dialect{
	SlowAccept: true,
	Joined: func(l string) bool {
		return strings.HasPrefix(l, "<announce> ") && strings.Contains(l, " is connected as <user")
	},
	Attributed: func(h []byte) bool { return bytes.HasPrefix(h, []byte("<user")) && bytes.HasSuffix(h, []byte("> ")) },
}

// Dialects lists the dialects by name. final keeps the chapters' protocol
// (every reply ends with a newline).
var Dialects = map[string]*Dialect{"tutorial": tutorial, "final": tutorial, "ncat": ncat}
