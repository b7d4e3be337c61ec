package receiver_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// TestSourceConformance runs the shared source suite. The upstream is an HTTP
// client that sends each alert again after a 503, as a forwarder that retries does;
// the suite's payload is the alert's attributes, which the event's payload carries
// (re-encoded in json.dumps style, which keeps the suite's markers).
func TestSourceConformance(t *testing.T) {
	var mu sync.Mutex
	var cur *node
	var seq atomic.Int64
	adaptertest.RunSource(t, adaptertest.SourceHarness{
		New: func(t *testing.T) adapters.Source {
			n := start(t, config("http://localhost:8080"), options{noRun: true})
			mu.Lock()
			cur = n
			mu.Unlock()
			return n.src
		},
		Inject: func(t *testing.T, payload []byte) {
			mu.Lock()
			n := cur
			mu.Unlock()
			// A fixed id and createTime: the alert sent again is the same alert, and
			// its event the same payload.
			i := seq.Add(1)
			body := fmt.Appendf(nil, `{"id": "c0000000-0000-4000-8000-%012d", "resource": "r%d", "event": "E", "environment": "Production", "severity": "major", "createTime": "2026-01-02T03:04:05.678Z", "attributes": %s}`, i, i, payload)
			for range 200 {
				if s := n.do(http.MethodPost, "/alert", body).status; s != http.StatusServiceUnavailable {
					if s != http.StatusCreated {
						t.Errorf("POST /alert answered %d", s)
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Errorf("the source answered 503 to 200 posts of %s", payload)
		},
		Redelivers: true,
	})
}
