// Package chattest tests the workbook's chat servers and clients from
// the outside, as a learner at telnet or nc sees them: golden
// transcripts, a running program read as a terminal shows it, and the
// learner's own code checked against a chapter's transcripts.
//
// A chapter's test binary has one entry point for its roles and one for
// its transcripts:
//
//	func TestMain(m *testing.M) {
//		chattest.Main(m, chattest.Roles{Serve: func(ip string, port int, _ []string) { NewServer(ip, port).Start() }})
//	}
//
//	func TestTranscripts(t *testing.T) { chattest.RunDir(t, "testdata", nil) }
//
// Each transcript runs against a fresh server: the test binary started
// again as a child process on a free port (package proc starts every
// child process of the workspace). go test -update rewrites a
// transcript's expected bytes from what was observed.
//
// # Transcripts
//
// A transcript is a text file, one step per line:
//
//	# a comment (kept as documentation; -update keeps it too)
//	connect alice                  open a TCP connection named alice
//	connect alice to n2            the same, to the instance named n2 of a cluster (see Server.Instances)
//	alice types "hello\n"          alice writes these bytes, in one write
//	alice sees "hello\n"           the next bytes alice receives are exactly these
//	alice sees, in any order:      the next lines alice receives are these, in any order
//	    "line one\n"
//	    "line two\n"
//	alice sees nothing             nothing more arrives within a short, bounded wait
//	alice may see "\n" any number of times
//	                               from here until alice's next sees step matches, copies of
//	                               "\n" are skipped wherever the next expected bytes would start
//	alice is disconnected          the server closes alice's connection
//	alice quits                    alice closes her connection (FIN)
//	alice resets                   alice aborts her connection (RST)
//	server prints "text\n"         the next bytes on the server's console
//	server prints, in any order:   as for sees
//	server crashes "panic: …\n"    the server exits; its remaining output starts with this
//	server args -idle=1s           command-line arguments for the server (before any connect)
//	wait 10s                       a real-time pause (only where the program itself counts time)
//
// Payloads are Go string literals, so every byte is visible: "\r", "\n",
// a missing final newline, invalid UTF-8 ("\xff"). Addresses are written as
// 127.0.0.1:<alice> (alice's side of the connection) and
// 127.0.0.1:<server>; in typed text they are replaced by the real address.
package chattest
