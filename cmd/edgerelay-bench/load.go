//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/adapters/adaptertest/fakehttp"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/tidwall/gjson"
)

// sink is the in-process HTTP endpoint the daemon delivers to. On its own (the
// webhook target) it answers 200 (503 while fail is set); with inner set (the ilert
// API fake) inner answers every request and only its 202s count. Either way it
// records each delivered event by the id at idPath in its JSON body.
type sink struct {
	fail                    atomic.Bool  // answer 503 and record nothing (without inner)
	inner                   http.Handler // when set, answers every request; only its accept answers are deliveries
	accept                  int          // the inner answer that is a delivery: 202 (ilert) unless set (201 for Alerta)
	idPath, tsPath, keyPath string       // gjson paths of the event id, its send time (Unix ns) and its ordering key

	// gate is held shared while inner serves a request and exclusively by pause, so
	// that the fake's state can be reset while the daemon is sending.
	gate sync.RWMutex

	mu      sync.Mutex // guards st, seen, lastSeq, want and done
	st      sinkStats
	seen    map[string]arrival // by the id in the body
	lastSeq map[string]int     // by ordering key, the sequence number of its latest new id
	want    int
	done    chan struct{} // closed when want ids have arrived
}

// arrival is the first delivery of one id.
type arrival struct {
	eid string // X-Edgerelay-Event-Id (the ilert sink sends none)
	at  time.Time
}

// sinkStats is what the sink received since its last reset.
type sinkStats struct {
	unique         int
	dups, reIngest int             // repeated ids; of those, how many carried another relay event id
	outOfOrder     int             // new ids whose sequence number is below an earlier one of the same key
	dupGaps        []time.Duration // for each repeat, the time since the id's first arrival
	first, last    time.Time       // arrivals of the first and of the latest new id
	lat            []time.Duration // arrival - payload ts, per new id
}

// newSink returns a sink reading the webhook payload's fields; inner, when not nil,
// answers the requests (see sink).
func newSink(inner http.Handler, idPath, tsPath, keyPath string) *sink {
	s := &sink{inner: inner, idPath: idPath, tsPath: tsPath, keyPath: keyPath}
	s.reset(0)
	return s
}

// serve starts an HTTP server for s on 127.0.0.1; it returns its base URL
// ("http://127.0.0.1:port") and a stop function.
func (s *sink) serve() (string, func(), error) { return s.serveOn("127.0.0.1:0") }

// serveOn is serve on addr. A stopped sink serves again on its old address (W11's
// fake outage): the old socket may take a moment to go away, so a taken port is
// retried for up to a second.
func (s *sink) serveOn(addr string) (string, func(), error) {
	listen := fakehttp.ListenAgain
	if strings.HasSuffix(addr, ":0") {
		listen = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	}
	l, err := listen(addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen for the sink: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	// Exits when the stop function closes the server.
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// reset forgets everything and returns a channel closed when want new ids have arrived.
func (s *sink) reset(want int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st, s.seen, s.lastSeq = sinkStats{}, make(map[string]arrival, want), map[string]int{}
	s.want, s.done = want, make(chan struct{})
	return s.done
}

// setWant lowers the ids awaited since the last reset to want (fewer were sent) and
// returns the channel closed once they have arrived.
func (s *sink) setWant(want int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.want = want; s.st.unique >= want {
		select {
		case <-s.done:
		default:
			close(s.done)
		}
	}
	return s.done
}

// acceptCode is the inner answer that counts as a delivery.
func (s *sink) acceptCode() int {
	if s.accept != 0 {
		return s.accept
	}
	return http.StatusAccepted
}

// pause runs f while no request is inside inner and none enters it.
func (s *sink) pause(f func()) {
	s.gate.Lock()
	defer s.gate.Unlock()
	f()
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	now := time.Now()
	eid := r.Header.Get("X-Edgerelay-Event-Id")
	if s.inner != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		cw := &fakehttp.StatusRecorder{ResponseWriter: w}
		s.gate.RLock()
		s.inner.ServeHTTP(cw, r)
		s.gate.RUnlock()
		if cw.Status == s.acceptCode() {
			s.record(body, eid, now)
		}
		return
	}
	if s.fail.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	s.record(body, eid, now)
	w.WriteHeader(http.StatusOK)
}

// record counts one delivery that arrived at now.
func (s *sink) record(body []byte, eid string, now time.Time) {
	f := gjson.GetManyBytes(body, s.idPath, s.tsPath, s.keyPath)
	id, key := f[0].String(), f[2].String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if first, seen := s.seen[id]; seen {
		s.st.dups++
		s.st.dupGaps = append(s.st.dupGaps, now.Sub(first.at))
		if first.eid != eid {
			s.st.reIngest++
		}
		return
	}
	s.seen[id] = arrival{eid, now}
	if s.st.unique++; s.st.unique == 1 {
		s.st.first = now
	}
	s.st.last = now
	s.st.lat = append(s.st.lat, now.Sub(time.Unix(0, f[1].Int())))
	if seq, ok := seqOf(id); ok {
		if last, had := s.lastSeq[key]; had && seq < last {
			s.st.outOfOrder++
		} else {
			s.lastSeq[key] = seq
		}
	}
	if s.st.unique == s.want {
		close(s.done)
	}
}

// seqOf is the sequence number at the end of an id made by payload or ilertPayload.
func seqOf(id string) (int, bool) {
	if len(id) < 12 {
		return 0, false
	}
	n, err := strconv.Atoi(id[len(id)-12:])
	return n, err == nil
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

// ilertPayload is one ~270-byte message as a device sends it to ilagent's event
// topic: apiKey, eventType, summary, details, alertKey (k0…k63, the ordering key),
// priority, and the driver's id and send time inside customDetails, which the ilert
// mapping passes through.
func ilertPayload(tag uint32, i int) []byte {
	return fmt.Appendf(nil, `{"apiKey":"il1api-bench","eventType":"ALERT","summary":"Pressure high on pump 3",`+
		`"details":"Discharge pressure 8.7 bar above the 8.0 bar limit for 30 s","alertKey":"k%d","priority":"HIGH",`+
		`"customDetails":{"id":"%08x-0000-4000-8000-%012d","ts":%d}}`, i%64, tag, i, time.Now().UnixNano())
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

// publish sends events [first,first+n), made by mk, at QoS 1 on topic bench/alerts:
// event i on client i%len(cs), so that the events of one key share a client (and its
// order) across calls; each client keeps at most window/len(cs) unacknowledged;
// interval > 0 paces event i to start+(i-first)*interval. It returns when every
// publish is acknowledged or has failed, with the number that failed or were not
// acknowledged within 30 s.
func publish(ctx context.Context, cs []mqtt.Client, mk func(uint32, int) []byte, tag uint32, first, n, window int, interval time.Duration) int {
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
			for i := first + (k-first%len(cs)+len(cs))%len(cs); i < first+n && ctx.Err() == nil; i += len(cs) {
				time.Sleep(time.Until(start.Add(time.Duration(i-first) * interval)))
				pending <- c.Publish("bench/alerts", 1, false, mk(tag, i))
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}
