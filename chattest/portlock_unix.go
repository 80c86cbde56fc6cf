//go:build unix

package chattest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// LockChapterPort takes a machine-wide lock on the tutorial's port
// ([ChapterAddr]): the tutorial's servers cannot listen anywhere else, so
// test processes that start them take turns. It waits for the lock,
// saying so on w, and returns the function that releases it. The lock is
// an flock on a file in the temporary directory, which the kernel
// releases when the process ends, however it ends.
func LockChapterPort(w io.Writer) (unlock func(), err error) {
	path := filepath.Join(os.TempDir(), "im-workbook-port-8888.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("端口 8888 的锁 %s：%v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(w, "（另一个测试正在用端口 8888，等它用完……锁文件：%s）\n", path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("端口 8888 的锁 %s：%v", path, err)
		}
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}
