package proc

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
)

// A test binary runs again as a child process in one of two roles: a
// chapter's server (the chapter is not changed to be testable, and a
// server that spins, leaks or panics takes only its own process down) or
// a program such as the tutorial's client. Which role, and its
// arguments, travel in these environment variables.
const (
	envServe   = "CHATTEST_SERVE"   // "ip:port" to serve on
	envArgs    = "CHATTEST_ARGS"    // JSON list of the server's args
	envProgram = "CHATTEST_PROGRAM" // JSON list of the program's arguments
)

// ServeTest returns the command that runs the test binary at path as a
// child server on addr with args (see [IfChild]).
func ServeTest(path, addr string, args ...string) *exec.Cmd {
	a, _ := json.Marshal(args)
	cmd := exec.Command(path, "-test.run=^$")
	cmd.Env = append(os.Environ(), envServe+"="+addr, envArgs+"="+string(a), "GOTRACEBACK=single")
	return cmd
}

// RunTest returns the command that runs the test binary at path as the
// program under test, with args (see [IfChild]).
func RunTest(path string, args ...string) *exec.Cmd {
	a, _ := json.Marshal(args)
	cmd := exec.Command(path, "-test.run=^$")
	cmd.Env = append(os.Environ(), envProgram+"="+string(a))
	return cmd
}

// IfChild runs the role this process was started in by [ServeTest] or
// [RunTest] and exits with status 0 when it returns; in a process started
// otherwise it returns at once. serve or run may be nil when the test
// binary has no such role.
func IfChild(serve func(ip string, port int, args []string), run func(args []string)) {
	if addr, ok := os.LookupEnv(envServe); ok && serve != nil {
		host, p, err := net.SplitHostPort(addr)
		port, err2 := strconv.Atoi(p)
		if err != nil || err2 != nil {
			fail("bad %s=%q", envServe, addr)
		}
		serve(host, port, jsonArgs(envArgs))
		os.Exit(0)
	}
	if _, ok := os.LookupEnv(envProgram); ok && run != nil {
		run(jsonArgs(envProgram))
		os.Exit(0)
	}
}

func jsonArgs(env string) []string {
	var args []string
	if a := os.Getenv(env); a != "" {
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fail("bad %s: %v", env, err)
		}
	}
	return args
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "chattest: "+format+"\n", args...)
	os.Exit(2)
}
