package chattest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"im-workbook/chattest/proc"
)

// LearnerServer is a learner's chapter, built into a program that, like
// the tutorial's main, serves on [ChapterAddr].
type LearnerServer struct {
	Dir string // the learner's code
	Bin string // the program built from it
	// ListenTimeout is how long it may take to listen; 0 means
	// [defaultListenTimeout].
	ListenTimeout time.Duration
	// PortWait is how long to wait for port 8888 to be free when another
	// program holds it: 0 reports that at once, as a learner wants; tests
	// wait for programs that do not take [LockChapterPort].
	PortWait time.Duration

	err error // why a server could not be started; it ends the whole check
}

// defaultListenTimeout is how long a learner's server may take to listen.
var defaultListenTimeout = 10 * time.Second

// BuildServer builds the learner's chapter in dir into outDir, the way
// the tutorial does: go build with the list of the server's .go files
// (every one but the menu client's client.go), in their own module if dir
// has one. A relative dir is looked up from the current directory (the
// chapter's, under go test) and then from each directory above it, so
// that it works from wherever the learner typed go test. Errors are one
// line for the learner, or one line and the compiler's message.
func BuildServer(dir, outDir string) (*LearnerServer, error) {
	abs, bin, err := buildLearner(dir, outDir, "server")
	if err != nil {
		return nil, err
	}
	return &LearnerServer{Dir: abs, Bin: bin}, nil
}

// BuildClient builds the learner's menu client named by -client into
// outDir, as BuildServer builds a server: client.go if dir has one (the
// tutorial keeps it next to the server's files), else every .go file. It
// returns "" without -client.
func BuildClient(outDir string) (string, error) {
	if *clientFlag == "" {
		return "", nil
	}
	_, bin, err := buildLearner(*clientFlag, outDir, "client")
	return bin, err
}

// buildLearner builds the role ("server" or "client") in the learner's
// dir into outDir/role.
func buildLearner(dir, outDir, role string) (abs, bin string, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	abs, err = findDir(dir, wd)
	if err != nil {
		return "", "", err
	}
	files, err := filepath.Glob(filepath.Join(abs, "*.go"))
	if err != nil {
		return "", "", err
	}
	var sources []string
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			sources = append(sources, filepath.Base(f))
		}
	}
	if len(sources) == 0 {
		return "", "", fmt.Errorf("%s 里没有 .go 文件：要的是你这一章代码所在的目录", abs)
	}
	if len(sources) > 1 && slices.Contains(sources, "client.go") {
		if role == "client" {
			sources = []string{"client.go"}
		} else {
			sources = slices.DeleteFunc(sources, func(f string) bool { return f == "client.go" })
		}
	}
	bin = filepath.Join(outDir, role)
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	args := append([]string{"build", "-o", bin}, sources...)
	cmd := exec.Command("go", args...)
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOWORK=off") // their module (or none), not this workspace
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("你的代码编译不通过（在 %s 里运行 go build %s）：\n%s", abs, strings.Join(sources, " "), compilerMessage(out, err))
	}
	return abs, bin, nil
}

// findDir resolves a learner's directory, relative to the working
// directory wd or to one of its parents (the workspace root, typically).
func findDir(dir, wd string) (string, error) {
	candidates := []string{dir}
	if !filepath.IsAbs(dir) {
		candidates = nil
		for d := wd; ; d = filepath.Dir(d) {
			candidates = append(candidates, filepath.Join(d, dir))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil {
			if !fi.IsDir() {
				return "", fmt.Errorf("%s 不是目录：-server 要的是你这一章代码所在的目录（-server 也可以是 127.0.0.1:8888 这样的地址）", c)
			}
			return c, nil
		}
	}
	return "", fmt.Errorf("找不到目录 %s（相对路径从本章目录和它上面的每一层目录找过了；写绝对路径最稳妥）", dir)
}

// compilerMessage keeps what the compiler said, without go's "# package"
// headers, at most a screenful.
func compilerMessage(out []byte, err error) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "# ") {
			lines = append(lines, l)
		}
	}
	if len(lines) > 20 {
		lines = append(lines[:20], "……")
	}
	if len(lines) == 0 || lines[0] == "" {
		return err.Error()
	}
	return strings.Join(lines, "\n")
}

// Start runs the learner's program, waits until it listens on
// [ChapterAddr], and stops it in t.Cleanup. The caller holds
// [LockChapterPort].
func (ls *LearnerServer) Start(t testing.TB) *Server {
	t.Helper()
	return ls.start(t, nil)
}

// start implements [StartFunc] for Start.
func (ls *LearnerServer) start(t testing.TB, _ []string) *Server {
	t.Helper()
	fail := func(err error) {
		ls.err = err
		t.Fatal(err)
	}
	for deadline := time.Now().Add(ls.PortWait); ; time.Sleep(50 * time.Millisecond) {
		err := portFree(ChapterAddr)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			fail(err)
		}
	}
	cmd := exec.Command(ls.Bin)
	cmd.Dir = ls.Dir
	p, err := proc.Start(cmd)
	if err != nil {
		fail(fmt.Errorf("启动你的服务器失败：%v", err))
	}
	t.Cleanup(p.Kill)
	wait := ls.ListenTimeout
	if wait == 0 {
		wait = defaultListenTimeout
	}
	if err := waitListening(p, ChapterAddr, wait); err != nil {
		fail(err)
	}
	return &Server{Addr: ChapterAddr, Program: &Program{p}, Console: NewWatch("server console", p.Out)}
}

// waitListening waits until p listens on addr.
func waitListening(p *proc.Process, addr string, wait time.Duration) error {
	_, port, _ := net.SplitHostPort(addr)
	deadline := time.Now().Add(wait)
	for {
		if !p.Running() {
			<-p.Out.Done()
			how := "exit status 0"
			if p.Err() != nil {
				how = p.Err().Error()
			}
			return fmt.Errorf("你的服务器还没在 %s 监听就退出了（%s）。它的输出：%q", addr, how, p.Out.Bytes())
		}
		ports, err := listeningPorts(p.Pid())
		if errors.Is(err, errNoProc) {
			return dialUntil(addr, wait, deadline)
		}
		if ports[port] {
			return nil
		}
		if time.Now().After(deadline) {
			if len(ports) > 0 {
				var list []string
				for p := range ports {
					list = append(list, p)
				}
				return fmt.Errorf("你的服务器在端口 %s 监听，不是 %s（教程的 main.go 写的是 NewServer(\"127.0.0.1\", 8888)）", strings.Join(list, "、"), addr)
			}
			return fmt.Errorf("你的服务器运行了 %v，还没有在 %s 监听（main 里调用 server.Start() 了吗？）", wait, addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialUntil is waitListening where /proc cannot say who listens: a
// connection is the only way to find out.
func dialUntil(addr string, wait time.Duration, deadline time.Time) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("你的服务器运行了 %v，还没有在 %s 监听", wait, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// portFree fails, naming the process, if something already listens on
// addr's port.
func portFree(addr string) error {
	_, port, _ := net.SplitHostPort(addr)
	ls, err := listeners()
	if errors.Is(err, errNoProc) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("端口 %s 已被占用（%v）：先停掉占用它的程序", port, err)
		}
		return l.Close()
	}
	for _, l := range ls {
		if l.port == port {
			return fmt.Errorf("端口 %s 已被占用：%s在 %s 监听。先停掉它，或者用 -server %s 检查这个正在运行的服务器", port, holder(l.inode), l.addr, addr)
		}
	}
	return nil
}

// checkListening fails with one line if nothing listens on addr.
func checkListening(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-server %s：%v", addr, err)
	}
	ls, err := listeners()
	if err == nil && (host == "127.0.0.1" || host == "localhost") {
		for _, l := range ls {
			if l.port == port {
				return nil
			}
		}
		return fmt.Errorf("连不上 %s：没有程序在端口 %s 监听。先在另一个终端里启动你的服务器（go run .），或者用 -server 你的代码目录", addr, port)
	}
	c, err := net.DialTimeout("tcp", addr, Patience)
	if err != nil {
		return fmt.Errorf("连不上 %s：%v", addr, err)
	}
	return c.Close()
}

// Who listens where, from Linux's /proc.

var errNoProc = errors.New("no /proc/net/tcp")

type listener struct {
	addr, port string // as a person writes them: "127.0.0.1", "8888"
	inode      string // of the socket
}

// listeners lists the listening TCP sockets of the machine.
func listeners() ([]listener, error) {
	var out []listener
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			if file == "/proc/net/tcp" {
				return nil, errNoProc
			}
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			hexAddr, hexPort, _ := strings.Cut(fields[1], ":")
			port, err := strconv.ParseUint(hexPort, 16, 16)
			if err != nil {
				continue
			}
			out = append(out, listener{addr: procAddr(hexAddr), port: strconv.FormatUint(port, 10), inode: fields[9]})
		}
		f.Close()
	}
	return out, nil
}

// procAddr decodes /proc/net/tcp's address: 32-bit words in host order
// (little-endian on the machines this runs on).
func procAddr(h string) string {
	var ip net.IP
	for i := 0; i+8 <= len(h); i += 8 {
		w, err := strconv.ParseUint(h[i:i+8], 16, 32)
		if err != nil {
			return h
		}
		ip = append(ip, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	return ip.String()
}

// socketInodes returns the socket inodes among pid's open files.
func socketInodes(pid string) map[string]bool {
	out := map[string]bool{}
	fds, _ := os.ReadDir(filepath.Join("/proc", pid, "fd"))
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc", pid, "fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			out[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	return out
}

// listeningPorts returns the ports pid listens on.
func listeningPorts(pid int) (map[string]bool, error) {
	ls, err := listeners()
	if err != nil {
		return nil, err
	}
	mine := socketInodes(strconv.Itoa(pid))
	ports := map[string]bool{}
	for _, l := range ls {
		if mine[l.inode] {
			ports[l.port] = true
		}
	}
	return ports, nil
}

// holder names the process that has the socket inode open.
func holder(inode string) string {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil || !socketInodes(p.Name())[inode] {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		name := strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
		return fmt.Sprintf("进程 %s（%s）", p.Name(), name)
	}
	return "另一个进程（看不出是哪个：试试 ss -ltnp）"
}
