package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/secure/precis"
)

// Fix 6: the chapters recognised commands by their first bytes
// (msg[:6] == "rename", msg[:2] == "to"), so "renamed it" renamed the user
// and "tomorrow is fine" became a private message. Here the first word of
// the line decides: "who", "rename" or "to" make it a command, anything
// else is said to everyone.

// maxNameLen is the longest user name, in characters.
const maxNameLen = 32

// Replies. Those the chapters send keep their text; every reply now ends
// with a newline.
const (
	replyRenamed  = "用户名已修改为：%s\n"
	replyNameUsed = "当前用户名已经被使用\n"
	replyNoUser   = "该用户不存在\n"
	replyPrivate  = "%s想对您说：%s\n"
	replyOnline   = "在线..."
	replyKicked   = "你被踢了\n"

	usageWho     = "用法：who（不带参数）\n"
	usageRename  = "用法：rename 新用户名\n"
	usageToName  = "请输入对方用户名。用法：to 用户名 消息\n"
	usageToText  = "无消息内容，请重发。用法：to 用户名 消息\n"
	replyBadName = "用户名不合法：最多 %d 个字符，只能用字母、数字和 : [ ] | 以外的 ASCII 符号，不能含空白或看不见的字符\n"
	replyTooLong = "消息太长（最多 %d 字节），没有发出\n"
	replySlow    = "你接收消息太慢，积压过多，连接已断开\n"
	replyFull    = "服务器已满（最多 %d 个用户），请稍后再试\n"
	replyBusy    = "你的地址连接太频繁，请稍后再试\n"
	replyClosing = "服务器正在关闭，再见\n"
)

type cmdKind uint8

const (
	cmdSay    cmdKind = iota // an ordinary message to everyone
	cmdWho                   // who
	cmdRename                // rename NAME
	cmdTo                    // to NAME message
	cmdUsage                 // a malformed command: reply says how to write it
)

type command struct {
	kind  cmdKind
	name  string // rename: the new name; to: the recipient
	text  string // say, to: the message
	reply string // usage: what to send back instead
}

// parseCommand reads one line the user typed, already sanitized and
// trimmed of surrounding white space. Besides the tutorial's forms it
// accepts the video's "rename|NAME" and "to|NAME|message".
func parseCommand(msg string) command {
	// A \ before a command says the line to everyone instead: "\to be or
	// not to be" is the way to say "to be or not to be" (final/client
	// offers it).
	if rest, ok := strings.CutPrefix(msg, `\`); ok && !strings.HasPrefix(rest, `\`) && parseCommand(rest).kind != cmdSay {
		return command{kind: cmdSay, text: rest}
	}
	if name, ok := strings.CutPrefix(msg, "rename|"); ok {
		return renameCommand(strings.TrimSpace(name))
	}
	if rest, ok := strings.CutPrefix(msg, "to|"); ok {
		name, text, _ := strings.Cut(rest, "|")
		return toCommand(strings.TrimSpace(name), text)
	}
	word, rest := cutSpace(msg)
	switch word {
	case "who":
		if rest != "" {
			return command{kind: cmdUsage, reply: usageWho}
		}
		return command{kind: cmdWho}
	case "rename":
		return renameCommand(rest)
	case "to":
		name, text := cutSpace(rest)
		return toCommand(name, text)
	}
	return command{kind: cmdSay, text: msg}
}

func renameCommand(name string) command {
	if name == "" {
		return command{kind: cmdUsage, reply: usageRename}
	}
	name, ok := validName(name)
	if !ok {
		return command{kind: cmdUsage, reply: fmt.Sprintf(replyBadName, maxNameLen)}
	}
	return command{kind: cmdRename, name: name}
}

func toCommand(name, text string) command {
	if name == "" {
		return command{kind: cmdUsage, reply: usageToName}
	}
	if text == "" {
		return command{kind: cmdUsage, reply: usageToText}
	}
	// Fix 7: the message is the rest of the line exactly as typed, not its
	// words joined again with a trailing space.
	if n, ok := validName(name); ok {
		name = n // the same name as rename would have made of it
	}
	return command{kind: cmdTo, name: name, text: text}
}

// cutSpace splits s at its first run of white space.
func cutSpace(s string) (word, rest string) {
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeftFunc(s[i:], unicode.IsSpace)
}

// validName returns the name that name, typed with rename, stands for, and
// whether it may be chosen (fix 5, issue 10). The PRECIS profile for user
// names (RFC 8265, UsernameCasePreserved) decides what a name may contain:
// letters and digits of any script and printable ASCII, nothing invisible
// (zero-width, bidirectional, format, default-ignorable characters), no
// spaces or symbols; it maps full-width forms to ASCII (so "：" becomes
// ":") and normalises to NFC (so NFC and NFD spellings are one name).
// Then final's own rules: 1 to maxNameLen characters, no ZWJ or ZWNJ, and
// none of ":[]|", not even as a look-alike (in its skeleton): no name can
// pass for the "[addr]name: " prefix or for a default name (an address,
// which always contains ':'), and "to|NAME|…" is never ambiguous.
func validName(name string) (string, bool) {
	name, err := precis.UsernameCasePreserved.String(name)
	if err != nil || name == "" || utf8.RuneCountInString(name) > maxNameLen ||
		strings.ContainsAny(name, ":[]|\u200c\u200d") || strings.ContainsAny(confusables.Skeleton(name), ":[]|") {
		return "", false
	}
	return name, true
}

// nameKey is what two names that look alike have in common: the UTS #39
// skeleton (confusable characters mapped to one prototype), case-folded.
func nameKey(name string) string {
	return cases.Fold().String(confusables.Skeleton(name))
}

// nameKeys are the keys under which a name is taken: nameKey, and the
// skeleton of the case-folded name. Folding and the skeleton do not
// commute (the skeleton maps I to l, so nameKey("ALICE") is "allce"), so
// a name is compared both ways. Two online users never share a key.
func nameKeys(name string) []string {
	k1, k2 := nameKey(name), confusables.Skeleton(cases.Fold().String(name))
	if k1 == k2 {
		return []string{k1}
	}
	return []string{k1, k2}
}
