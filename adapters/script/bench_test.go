//go:build linux

package script

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/edgerelay/edgerelay/adapters"
)

// The benchmarks give the sink's throughput: one process started, fed and reaped per
// event. They report events/s; the cost is the fork/exec, not the sink's code.

func benchEvent() *adapters.Event {
	return &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindAlert, Key: "100", Source: "edge", Topic: "alert-created",
		Payload: []byte(`{"id":"100","summary":"pump 7 down","eventType":"alert-created","timestamp":"2026-05-04T10:00:00.000Z"}`),
		Attrs: map[string]string{"env.ILERT_EVENT_TYPE": "alert-created", "env.ILERT_ALERT_ID": "100",
			"env.ILERT_EDGE_ITEM_ID": "7f3a", "env.ILERT_TIMESTAMP": "2026-05-04T10:00:00.000Z"}}
}

func benchSend(b *testing.B, command string, inFlight int) {
	if _, err := os.Stat(command); err != nil {
		b.Skipf("SKIP: %s: %v", command, err)
	}
	s := connected(b, Config{Command: command, MaxInFlight: inFlight}, nil)
	e := benchEvent()
	b.ReportAllocs()
	b.SetParallelism(1)
	b.ResetTimer()
	if inFlight == 1 {
		for b.Loop() {
			if err := s.Send(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		sem := make(chan struct{}, inFlight)
		errc := make(chan error, inFlight)
		for range b.N {
			sem <- struct{}{}
			go func() { // exits after one Send
				defer func() { <-sem }()
				if err := s.Send(context.Background(), e); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}()
		}
		for range inFlight {
			sem <- struct{}{}
		}
		select {
		case err := <-errc:
			b.Fatal(err)
		default:
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkSendTrue runs /bin/true (it reads nothing), one at a time.
func BenchmarkSendTrue(b *testing.B) { benchSend(b, "/bin/true", 1) }

// BenchmarkSendShell runs a /bin/sh script that reads its stdin and checks a
// variable, one at a time and with max_in_flight 4.
func BenchmarkSendShell(b *testing.B) {
	cmd := writeScript(b, `read -r line; [ -n "$ILERT_EDGE_ITEM_ID" ] || exit 1`+"\n")
	for _, n := range []int{1, 4} {
		b.Run("in_flight="+strconv.Itoa(n), func(b *testing.B) { benchSend(b, cmd, n) })
	}
}

// BenchmarkExecBaseline is the floor the sink stands on: os/exec running /bin/true
// with no pipes, nothing written or read, the same machine at the same time.
func BenchmarkExecBaseline(b *testing.B) {
	if _, err := os.Stat("/bin/true"); err != nil {
		b.Skipf("SKIP: /bin/true: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
