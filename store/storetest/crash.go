package storetest

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// KillChild is the parent half of a power-cut test. It runs the test named test of
// the current test binary as a child process with env added to the environment,
// collects the numbers the child prints on stdout in lines "<prefix> <n>" (each one
// something the child saw made durable) until it has want of them or 20 seconds
// passed, kills the child with SIGKILL, and returns them all, including the lines
// printed before the kill landed. SIGKILL loses whatever the child had not fsynced,
// which is what a power cut does to the process.
func KillChild(t testing.TB, test string, env []string, prefix string, want int) []int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("crash child %s: %v", test, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start crash child %s: %v", test, err)
	}

	lines := make(chan int, 1024)
	go func() { // exits at EOF, when the child is dead
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), prefix+" "); ok {
				if n, err := strconv.Atoi(s); err == nil {
					lines <- n
				}
			}
		}
	}()

	var got []int
	deadline := time.After(20 * time.Second)
collect:
	for len(got) < want {
		select {
		case n, ok := <-lines:
			if !ok {
				break collect
			}
			got = append(got, n)
		case <-deadline:
			break collect
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill crash child %s: %v", test, err)
	}
	for n := range lines {
		got = append(got, n)
	}
	_ = cmd.Wait()
	return got
}
