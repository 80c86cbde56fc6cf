package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
	"unicode"
)

// Menu texts, as the tutorial writes them where they still fit.
const (
	menuText = "1.公聊模式\n2.私聊模式\n3.更新用户名\n0.退出\n"

	// The tutorial says 数组 (array) where it means 数字 (number).
	badChoice = ">>>>>请输入合法范围内的数字（0-3）<<<<<"

	// The same prompt serves public and private chat; \exit is how the
	// word exit itself is sent (see chatLine).
	chatPrompt   = `>>>>>请输入聊天内容，exit退出（要发送文字 exit 请输入 \exit）：`
	targetPrompt = ">>>>>请输入您想私聊的对象，exit退出："
	namePrompt   = ">>>>>>请输入用户名："

	// commandWord: in 公聊模式 a line that the server would take as a
	// command is not sent; the user is told how to say it (final removes
	// a \ before a command, see parseCommand in ../command.go).
	commandWord = `>>>>>以 %s 开头的一行会被服务器当成命令，没有发出；要把它作为消息发给所有人，请在前面加一个 \：\%s`

	emptyName   = ">>>>>>用户名不能为空"
	spaceTarget = ">>>>>对方用户名不能包含空白字符，请重新输入："
)

const (
	// writeTimeout bounds a send to a server that has stopped reading.
	writeTimeout = 10 * time.Second
	// lingerTimeout bounds the wait, on a clean exit, for the server to
	// close its side after ours (the chapter 09 server never does).
	lingerTimeout = 500 * time.Millisecond
)

// errEndOfInput reports that standard input ended (Ctrl-D): a clean exit.
var errEndOfInput = errors.New("end of input")

// lostError reports that the connection to the server ended while the
// client still wanted it: a kick, a server shutdown, a network failure.
type lostError struct{ err error }

func (e *lostError) Error() string {
	if errors.Is(e.err, io.EOF) {
		return "服务器断开了连接（被踢下线、服务器关闭或服务器已退出）"
	}
	return "服务器断开了连接：" + e.err.Error()
}

func (e *lostError) Unwrap() error { return e.err }

// Client is one user's session: it reads the user's lines from input and
// turns them into protocol lines on conn, while DealResponse shows what
// the server sends.
type Client struct {
	conn  net.Conn
	out   *console
	input <-chan string // the user's lines; closed at end of input

	relayDone chan struct{} // closed when DealResponse has returned
	relayErr  error         // why it returned; read only after relayDone
}

// NewClient starts showing the server's messages and returns the client
// ready to Run. The caller must call Close.
func NewClient(conn net.Conn, out *console, input <-chan string) *Client {
	c := &Client{conn: conn, out: out, input: input, relayDone: make(chan struct{})}
	//单独一个goroutine处理server的回执消息
	go func() {
		defer close(c.relayDone)
		c.relayErr = c.DealResponse()
	}()
	return c
}

// Run shows the menu and runs the chosen mode until the user chooses 0 or
// input ends (it returns nil then), the connection ends (*lostError), or
// ctx is cancelled (ctx.Err()).
func (c *Client) Run(ctx context.Context) error {
	for {
		choice, err := c.menu(ctx)
		switch {
		case errors.Is(err, errEndOfInput):
			return nil
		case err != nil:
			return err
		}
		switch choice {
		case 0:
			return nil
		case 1: //公聊模式
			err = c.PublicChat(ctx)
		case 2: //私聊模式
			err = c.PrivateChat(ctx)
		case 3: //更新用户名
			err = c.UpdateName(ctx)
		default:
			continue // not a choice: menu has said so
		}
		if errors.Is(err, errEndOfInput) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Close ends the session and waits until nothing more is printed. After a
// clean exit it first half-closes the connection, so that the server reads
// everything sent and then end of file, and gives the server a moment to
// close its side; a plain Close with unread data would reset the
// connection instead.
func (c *Client) Close(clean bool) {
	if tcp, ok := c.conn.(*net.TCPConn); ok && clean {
		if tcp.CloseWrite() == nil {
			timer := time.NewTimer(lingerTimeout)
			select {
			case <-c.relayDone:
			case <-timer.C:
			}
			timer.Stop()
		}
	}
	c.conn.Close()
	<-c.relayDone
}

// menu shows the menu and reads one line. It returns the choice, or -1
// after saying once that the line is not one of 0–3.
func (c *Client) menu(ctx context.Context) (int, error) {
	c.out.Print(menuText)
	line, err := c.readLine(ctx)
	if err != nil {
		return 0, err
	}
	switch s := strings.TrimSpace(line); s {
	case "0", "1", "2", "3":
		return int(s[0] - '0'), nil
	}
	c.out.Println(badChoice)
	return -1, nil
}

// PublicChat sends each line the user types to everyone, until exit.
func (c *Client) PublicChat(ctx context.Context) error {
	c.out.Println(chatPrompt)
	return c.chat(ctx, "")
}

// PrivateChat lists the users, asks whom to talk to, and sends each line
// to that user, until exit; then it asks again, until exit.
func (c *Client) PrivateChat(ctx context.Context) error {
	for {
		if err := c.SelectUsers(); err != nil {
			return err
		}
		c.out.Println(targetPrompt)
		remoteUser, err := c.readTarget(ctx)
		if err != nil || remoteUser == "" {
			return err
		}
		c.out.Println(chatPrompt)
		if err := c.chat(ctx, "to "+remoteUser+" "); err != nil {
			return err
		}
	}
}

// chat sends prefix+line for every line the user types, until exit.
func (c *Client) chat(ctx context.Context, prefix string) error {
	for {
		line, err := c.readLine(ctx)
		if err != nil {
			return err
		}
		msg, quit := chatLine(line)
		if quit {
			return nil
		}
		if msg == "" {
			continue // nothing to say
		}
		if w := serverCommand(msg); w != "" && prefix == "" {
			c.out.Println(fmt.Sprintf(commandWord, w, strings.TrimSpace(msg)))
			continue
		}
		if err := c.send(prefix + msg); err != nil {
			return err
		}
	}
}

// readTarget reads the name of the user to talk to, asking again while
// the line is empty or holds a space (a name cannot: the server would
// take its first word as the name and the rest as the message). It
// returns "" when the user types exit.
func (c *Client) readTarget(ctx context.Context) (string, error) {
	for {
		line, err := c.readLine(ctx)
		if err != nil {
			return "", err
		}
		name, quit := chatLine(strings.TrimSpace(line))
		switch {
		case quit:
			return "", nil
		case name == "":
			c.out.Println(targetPrompt)
		case strings.ContainsFunc(name, unicode.IsSpace):
			c.out.Println(spaceTarget)
		default:
			return name, nil
		}
	}
}

// UpdateName asks for a new name and sends it whole: if the server does
// not accept it (say, it holds a space), its reply says why.
func (c *Client) UpdateName(ctx context.Context) error {
	c.out.Println(namePrompt)
	line, err := c.readLine(ctx)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(line)
	if name == "" {
		c.out.Println(emptyName)
		return nil
	}
	return c.send("rename " + name)
}

// SelectUsers asks the server who is online.
func (c *Client) SelectUsers() error {
	return c.send("who")
}

// send writes one protocol line: msg and a single '\n'.
func (c *Client) send(msg string) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return &lostError{err}
	}
	if _, err := io.WriteString(c.conn, msg+"\n"); err != nil {
		return &lostError{err}
	}
	return nil
}

// readLine waits for the user's next line. It returns errEndOfInput at
// the end of input, a *lostError as soon as the connection ends, and
// ctx.Err() once ctx is cancelled, whichever comes first: the client never
// sits in its menu with the server gone.
func (c *Client) readLine(ctx context.Context) (string, error) {
	select {
	case line, ok := <-c.input:
		if !ok {
			return "", errEndOfInput
		}
		return line, nil
	case <-c.relayDone:
		return "", &lostError{c.relayErr}
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// chatLine reads a line typed in a chat mode. The word exit (spaces
// around it allowed) quits the mode. A backslash escapes it: \exit sends
// exit, \\exit sends \exit, and so on; every other line is sent exactly
// as typed. A blank line sends nothing (msg is "").
func chatLine(line string) (msg string, quit bool) {
	word := strings.TrimSpace(line)
	switch {
	case word == "exit":
		return "", true
	case strings.TrimLeft(word, `\`) == "exit":
		return word[1:], false
	case word == "":
		return "", false
	}
	return line, false
}

// serverCommand returns the command a line starts with, as the server
// reads it (its first word: who, rename or to, or the video's rename| and
// to| forms), or "" for a line it would say to everyone.
func serverCommand(msg string) string {
	fields := strings.Fields(msg)
	if len(fields) == 0 {
		return ""
	}
	switch w := fields[0]; {
	case w == "who" || w == "rename" || w == "to":
		return w
	case strings.HasPrefix(w, "rename|"):
		return "rename|"
	case strings.HasPrefix(w, "to|"):
		return "to|"
	}
	return ""
}

// readLines sends each line of r, without its line ending ("\n" or
// "\r\n"), until r ends, then closes the channel. A last line without a
// newline counts. Closing stop ends a pending send.
func readLines(r io.Reader, stop <-chan struct{}) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
				select {
				case lines <- line:
				case <-stop:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return lines
}
