package script

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// supported reports whether the script sink can run here: on Linux it can.
func supported() error { return nil }

// startProcess runs path as the leader of a new process group (Setpgid), so that a
// timeout can signal the script and everything it started at once.
func startProcess(path string, argv, env []string, stdin, stdout, stderr *os.File) (*os.Process, error) {
	return os.StartProcess(path, argv, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{stdin, stdout, stderr},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
}

// signalGroup sends sig to every process of the group pid leads. The caller has not
// reaped the leader yet, so the group id cannot have been reused.
func signalGroup(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // nothing left to signal
	}
	return err
}

// waitExited blocks until the process pid has exited, without reaping it (WNOWAIT):
// until os.Process.Wait reaps it the pid, and so the process group id, stays taken.
func waitExited(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
