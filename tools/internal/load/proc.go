package load

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Proc reads a process's resident memory and CPU time from /proc (Linux).
type Proc struct{ Pid int }

// clockTick is USER_HZ, the unit of the times in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTick = 100

// RSS returns the process's resident set size in bytes: the second field
// of /proc/<pid>/statm, in pages (the figure VmRSS in /proc/<pid>/status
// gives in kB).
func (p Proc) RSS() (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", p.Pid))
	if err != nil {
		return 0, err
	}
	return parseRSS(data, os.Getpagesize())
}

// parseRSS reads the resident pages from /proc/<pid>/statm.
func parseRSS(statm []byte, pageSize int) (int64, error) {
	var size, resident int64
	if _, err := fmt.Sscan(string(statm), &size, &resident); err != nil {
		return 0, fmt.Errorf("odd statm %q: %w", statm, err)
	}
	return resident * int64(pageSize), nil
}

// CPU returns the user plus system CPU time the process has used, all
// threads together, at 10 ms resolution.
func (p Proc) CPU() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	if err != nil {
		return 0, err
	}
	return parseCPU(data)
}

// parseCPU reads utime and stime, fields 14 and 15 of /proc/<pid>/stat.
// The command name (field 2) is in parentheses and may hold spaces, so
// fields are counted from the last ')'.
func parseCPU(stat []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("odd stat %q", stat)
	}
	f := strings.Fields(string(stat[end+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat %q", stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("odd stat times %q %q", f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTick, nil
}

// usage is the RSS and CPU time of the processes pids (0: none), summed.
func usage(pids []int) (rss int64, cpu time.Duration, err error) {
	for _, pid := range pids {
		if pid == 0 {
			continue
		}
		r, err1 := Proc{pid}.RSS()
		c, err2 := Proc{pid}.CPU()
		if err = errors.Join(err1, err2); err != nil {
			return 0, 0, err
		}
		rss, cpu = rss+r, cpu+c
	}
	return rss, cpu, nil
}
