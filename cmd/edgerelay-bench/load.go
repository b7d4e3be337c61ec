//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/tidwall/gjson"
)

// sink is the in-process HTTP endpoint the daemon delivers to. It answers 200 (503
// while fail is set) and records each event by the id in its JSON body.
type sink struct {
	fail atomic.Bool // answer 503 and record nothing

	mu   sync.Mutex // guards st, seen, want and done
	st   sinkStats
	seen map[string]arrival // by the id in the body
	want int
	done chan struct{} // closed when want ids have arrived
}

// arrival is the first delivery of one id.
type arrival struct {
	eid string // X-Edgerelay-Event-Id
	at  time.Time
}

// sinkStats is what the sink received since its last reset.
type sinkStats struct {
	unique         int
	dups, reIngest int             // repeated ids; of those, how many carried another relay event id
	dupGaps        []time.Duration // for each repeat, the time since the id's first arrival
	first, last    time.Time       // arrivals of the first and of the latest new id
	lat            []time.Duration // arrival - payload ts, per new id
}

// serveSink starts a sink on 127.0.0.1; it returns the sink, its URL and a stop function.
func serveSink() (*sink, string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, fmt.Errorf("listen for the sink: %w", err)
	}
	s := &sink{}
	s.reset(0)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	// Exits when the stop function closes the server.
	go func() { _ = srv.Serve(l) }()
	return s, "http://" + l.Addr().String() + "/ingest", func() { _ = srv.Close() }, nil
}

// reset forgets everything and returns a channel closed when want new ids have arrived.
func (s *sink) reset(want int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st, s.seen, s.want, s.done = sinkStats{}, make(map[string]arrival, want), want, make(chan struct{})
	return s.done
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	now := time.Now()
	if s.fail.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	id, eid := gjson.GetBytes(body, "id").String(), r.Header.Get("X-Edgerelay-Event-Id")
	s.mu.Lock()
	if first, seen := s.seen[id]; seen {
		s.st.dups++
		s.st.dupGaps = append(s.st.dupGaps, now.Sub(first.at))
		if first.eid != eid {
			s.st.reIngest++
		}
	} else {
		s.seen[id] = arrival{eid, now}
		if s.st.unique++; s.st.unique == 1 {
			s.st.first = now
		}
		s.st.last = now
		s.st.lat = append(s.st.lat, now.Sub(time.Unix(0, gjson.GetBytes(body, "ts").Int())))
		if s.st.unique == s.want {
			close(s.done)
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *sink) stats() sinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.lat, st.dupGaps = slices.Clone(st.lat), slices.Clone(st.dupGaps)
	return st
}

// waitSink waits for done, at most limit; false means not every event arrived.
func waitSink(ctx context.Context, done <-chan struct{}, limit time.Duration) bool {
	select {
	case <-done:
		return true
	case <-time.After(limit):
	case <-ctx.Done():
	}
	return false
}

// payload is one ~215-byte JSON alert; keys spread over 64 values.
func payload(tag uint32, i int) []byte {
	return fmt.Appendf(nil, `{"id":"%08x-0000-4000-8000-%012d","key":"k%d","ts":%d,`+
		`"summary":"Pressure high on pump 3","details":"Discharge pressure 8.7 bar above the 8.0 bar limit for 30 s",`+
		`"priority":"HIGH"}`, tag, i, i%64, time.Now().UnixNano())
}

// connect opens one MQTT 3.1.1 connection with a clean session.
func connect(addr, id string, timeout time.Duration) (mqtt.Client, error) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(timeout).SetWriteTimeout(10 * time.Second).SetKeepAlive(30 * time.Second))
	if t := c.Connect(); !t.WaitTimeout(timeout + time.Second) {
		return nil, fmt.Errorf("connect to %s: timed out", addr)
	} else if err := t.Error(); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return c, nil
}

// connectN opens n connections; on error it closes those already open.
func connectN(addr string, n int) ([]mqtt.Client, error) {
	var cs []mqtt.Client
	for i := range n {
		c, err := connect(addr, fmt.Sprintf("bench-%d", i), 5*time.Second)
		if err != nil {
			disconnect(cs)
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func disconnect(cs []mqtt.Client) {
	for _, c := range cs {
		c.Disconnect(100)
	}
}

// publish sends events [0,n) at QoS 1 on topic bench/alerts, event i on client
// i%len(cs), each client keeping at most window/len(cs) unacknowledged; interval > 0
// paces event i to start+i*interval. It returns when every publish is acknowledged
// or has failed, with the number that failed or were not acknowledged within 30 s.
func publish(ctx context.Context, cs []mqtt.Client, tag uint32, n, window int, interval time.Duration) int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for k, c := range cs {
		pending := make(chan mqtt.Token, max(1, window/len(cs)-1))
		// Exits when pending is closed and drained.
		wg.Go(func() {
			for t := range pending {
				if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
					failed.Add(1)
				}
			}
		})
		// Exits after its share of the n events, or early when ctx is done.
		wg.Go(func() {
			defer close(pending)
			for i := k; i < n && ctx.Err() == nil; i += len(cs) {
				time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
				pending <- c.Publish("bench/alerts", 1, false, payload(tag, i))
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}
