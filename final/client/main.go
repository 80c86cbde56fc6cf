// Command client is the tutorial's menu client (steps/09-client/client)
// with its bugs fixed: it reads whole lines, notices when the server closes
// the connection, accepts only 0–3 at the menu, can send the word exit,
// fails clearly when it cannot connect, and never glues a server line to
// a prompt.
//
//	go run ./final/client -ip 127.0.0.1 -port 8888
//
// Exit status: 0 after 0.退出 or end of input (Ctrl-D); 1 when the
// connection fails or the server closes it; 2 for bad flags; 130 after
// Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Exit statuses.
const (
	exitOK          = 0
	exitLost        = 1 // could not connect, or the connection ended
	exitUsage       = 2
	exitInterrupted = 130 // as a shell reports a process ended by Ctrl-C
)

// dialTimeout bounds the wait for an address that never answers (a
// refused connection fails at once).
const dialTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Stdin, os.Stdout, os.Stderr, os.Args[1:])
	stop()
	os.Exit(code)
}

// run is the whole client: main only supplies the process's streams and
// turns the result into the exit status, so tests can drive run itself.
func run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) int {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	//命令格式：./client -ip 127.0.0.1 -port 8888
	//查看命令帮助文档：./client -h
	ip := fs.String("ip", "127.0.0.1", "服务器IP地址 (server IP address)")
	port := fs.Int("port", 8888, "服务器端口 (server port)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "client: 多余的参数 (unexpected arguments): %q\n", fs.Args())
		fs.Usage()
		return exitUsage
	}
	if *port < 1 || *port > 65535 {
		fmt.Fprintf(stderr, "client: 端口必须在 1 到 65535 之间 (port out of range): %d\n", *port)
		return exitUsage
	}

	//链接server
	addr := net.JoinHostPort(*ip, strconv.Itoa(*port))
	dialer := net.Dialer{Timeout: dialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil && ctx.Err() != nil {
		return exitInterrupted // Ctrl-C while connecting
	}
	if err != nil {
		fmt.Fprintf(stderr, ">>>>>>>链接服务器失败：%v\n", err)
		return exitLost
	}

	out := &console{w: stdout}
	out.Println(">>>>>>>>链接服务器成功...")

	stop := make(chan struct{})
	defer close(stop)
	client := NewClient(conn, out, readLines(stdin, stop))
	err = client.Run(ctx)
	client.Close(err == nil)

	var lost *lostError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &lost):
		fmt.Fprintf(stderr, ">>>>>>>>%v，客户端退出\n", lost)
		return exitLost
	case ctx.Err() != nil:
		return exitInterrupted
	default: // not reached: Run returns only the errors above
		fmt.Fprintf(stderr, "client: %v\n", err)
		return exitLost
	}
}
