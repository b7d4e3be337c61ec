package ilerttest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
)

// call sends one request to srv and returns the status, the body and the headers.
func call(t *testing.T, srv *Server, method, path, auth, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

func TestEndpoints(t *testing.T) {
	srv := NewServer(t)
	srv.SetAPIKey("il1api-admin")
	srv.AddUser("support@ilert.com", 99)
	srv.AddPolicy("powerplant", Policy{ID: 42, Rules: []Rule{{EscalationTimeout: 0}, {EscalationTimeout: 5}}})
	const bearer = "Bearer il1api-admin"
	for _, tc := range []struct {
		name, method, path, auth, body string
		want                           int
		wantBody                       string // substring
	}{
		{"event", "POST", "/api/events", "", `{"integrationKey":"k","eventType":"ALERT","summary":"s"}`, 202, ""},
		{"event all types", "POST", "/api/events", "", `{"integrationKey":"k","eventType":"COMMENT","priority":null}`, 202, ""},
		{"event priority low", "POST", "/api/events", "", `{"integrationKey":"k","eventType":"RESOLVE","priority":"LOW"}`, 202, ""},
		{"event bad type", "POST", "/api/events", "", `{"integrationKey":"k","eventType":"INVALID"}`, 400, "eventType"},
		{"event bad priority", "POST", "/api/events", "", `{"integrationKey":"k","eventType":"ALERT","priority":"MEDIUM"}`, 400, "priority"},
		{"event no key", "POST", "/api/events", "", `{"eventType":"ALERT"}`, 400, "integrationKey"},
		{"event not json", "POST", "/api/events", "", `not json`, 400, "JSON"},
		{"event wrong method", "GET", "/api/events", "", ``, 405, ""},
		{"mqtt event", "POST", "/api/v1/events/mqtt/key1", "", `{"eventType":"ALERT"}`, 202, ""},
		{"kafka event", "POST", "/api/v1/events/kafka/key1", "", `{"eventType":"ACCEPT"}`, 202, ""},
		{"mqtt empty key", "POST", "/api/v1/events/mqtt/", "", `{"eventType":"ALERT"}`, 404, ""},
		{"legacy heartbeat", "GET", "/api/heartbeats/il1hbt123", "", ``, 202, ""},
		{"ping", "HEAD", "/api/pings/hb1", "", ``, 202, ""},
		{"ping wrong method", "GET", "/api/pings/hb1", "", ``, 405, ""},
		{"search email", "POST", "/api/users/search-email", bearer, `{"email":"support@ilert.com"}`, 200, `"id":99`},
		{"search email unknown", "POST", "/api/users/search-email", bearer, `{"email":"x@y"}`, 404, ""},
		{"search email no auth", "POST", "/api/users/search-email", "", `{"email":"support@ilert.com"}`, 401, ""},
		{"search email wrong key", "POST", "/api/users/search-email", "Bearer nope", `{"email":"support@ilert.com"}`, 401, ""},
		{"resolve", "GET", "/api/escalation-policies/resolve?routing-key=powerplant", bearer, ``, 200, `"escalationTimeout":5`},
		{"resolve unknown", "GET", "/api/escalation-policies/resolve?routing-key=x", bearer, ``, 404, ""},
		{"update level", "PUT", "/api/escalation-policies/42/levels/1", bearer, `{"escalationTimeout":5,"users":[{"id":99}]}`, 200, ""},
		{"update unknown policy", "PUT", "/api/escalation-policies/7/levels/1", bearer, `{"escalationTimeout":5,"users":[{"id":99}]}`, 404, ""},
		{"update bad level", "PUT", "/api/escalation-policies/42/levels/9", bearer, `{"escalationTimeout":5,"users":[{"id":99}]}`, 400, ""},
		{"update bad body", "PUT", "/api/escalation-policies/42/levels/1", bearer, `{}`, 400, ""},
		{"unknown", "GET", "/api/nothing", "", ``, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, hdr := call(t, srv, tc.method, tc.path, tc.auth, tc.body)
			require.Equal(t, tc.want, code, body)
			require.Contains(t, body, tc.wantBody)
			if code == 202 && tc.method == "POST" {
				require.NotEmpty(t, hdr.Get("correlation-id"))
			}
			if code >= 400 && tc.method != "HEAD" {
				require.Equal(t, "application/json", hdr.Get("Content-Type"))
			}
		})
	}
	require.Len(t, srv.Events(), 5)
	require.Equal(t, "kafka", srv.Events()[4].Source)
	require.Equal(t, "key1", srv.Events()[4].PathKey)
	require.Equal(t, []Heartbeat{{Legacy: true, Key: "il1hbt123"}, {Legacy: false, Key: "hb1"}}, srv.Heartbeats())
	require.Equal(t, []LevelUpdate{{PolicyID: 42, Shift: 1, EscalationTimeout: 5, Users: []int64{99}}}, srv.LevelUpdates())
	reqs := srv.Requests()
	require.Len(t, reqs, 25)
	require.Equal(t, "/api/events", reqs[0].Path)
	require.Equal(t, 202, reqs[0].Status)
	require.Equal(t, "routing-key=powerplant", reqs[18].Query)
}

func TestAnyBearerWithoutAPIKey(t *testing.T) {
	srv := NewServer(t)
	srv.AddUser("a@b", 1)
	code, _, _ := call(t, srv, "POST", "/api/users/search-email", "Bearer anything", `{"email":"a@b"}`)
	require.Equal(t, 200, code)
	code, _, _ = call(t, srv, "POST", "/api/users/search-email", "Basic x", `{"email":"a@b"}`)
	require.Equal(t, 401, code)
}

func TestFailNext(t *testing.T) {
	srv := NewServer(t)
	srv.FailNext("/api/v1/events/*/*", 2, 503)
	srv.FailNextWithHeader("/api/events", 1, 429, http.Header{"Retry-After": {"3"}})
	ev := `{"integrationKey":"k","eventType":"ALERT"}`

	code, _, hdr := call(t, srv, "POST", "/api/events", "", ev)
	require.Equal(t, 429, code)
	require.Equal(t, "3", hdr.Get("Retry-After"))
	code, _, _ = call(t, srv, "POST", "/api/events", "", ev)
	require.Equal(t, 202, code, "the fault is used up")

	for _, want := range []int{503, 503, 202} {
		code, body, _ := call(t, srv, "POST", "/api/v1/events/mqtt/k", "", ev)
		require.Equal(t, want, code, body)
	}
	require.Len(t, srv.Events(), 2, "failed requests are not accepted events")
	require.Len(t, srv.Requests(), 5, "every request is recorded")

	srv.FailNext("*", 1, 500)
	code, _, _ = call(t, srv, "HEAD", "/api/pings/x", "", "")
	require.Equal(t, 500, code)
}

func TestDropNext(t *testing.T) {
	srv := NewServer(t)
	srv.DropNext("/api/events", 1)
	_, err := http.Post(srv.URL()+"/api/events", "application/json", strings.NewReader(`{}`))
	require.Error(t, err)
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	require.Zero(t, reqs[0].Status)
	code, _, _ := call(t, srv, "POST", "/api/events", "", `{"integrationKey":"k","eventType":"ALERT"}`)
	require.Equal(t, 202, code)
}

func TestDelay(t *testing.T) {
	srv := NewServer(t)
	srv.SetDelay("/api/events", time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", srv.URL()+"/api/events", strings.NewReader(`{}`))
	require.NoError(t, err)
	_, err = http.DefaultClient.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	srv.SetDelay("/api/events", 0)
	code, _, _ := call(t, srv, "POST", "/api/events", "", `{"integrationKey":"k","eventType":"ALERT"}`)
	require.Equal(t, 202, code)
}

func TestRestartKeepsState(t *testing.T) {
	srv := NewServer(t)
	url := srv.URL()
	code, _, _ := call(t, srv, "GET", "/api/heartbeats/il1hbt1", "", "")
	require.Equal(t, 202, code)
	if err := srv.Restart(); err != nil {
		adaptertest.Missing(t, "the server cannot take its port back: %v", err)
	}
	require.Equal(t, url, srv.URL())
	code, _, _ = call(t, srv, "GET", "/api/heartbeats/il1hbt2", "", "")
	require.Equal(t, 202, code)
	require.Len(t, srv.Heartbeats(), 2)
}

func TestConcurrent(t *testing.T) {
	srv := NewServer(t)
	srv.FailNext("*", 10, 503)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() { // exits after its 20 requests
			defer wg.Done()
			for i := range 20 {
				body := fmt.Sprintf(`{"integrationKey":"k","eventType":"ALERT","summary":"%d-%d"}`, g, i)
				resp, err := http.Post(srv.URL()+"/api/events", "application/json", strings.NewReader(body))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	require.Len(t, srv.Requests(), 160)
	require.Len(t, srv.Events(), 150)
}

func TestRespondNext(t *testing.T) {
	srv := NewServer(t)
	srv.AddUser("a@b", 1)
	srv.RespondNext("/api/users/search-email", 1, 200, http.Header{"Content-Type": {"text/html"}}, []byte("<html>portal</html>"))
	srv.RespondNext("/api/users/search-email", 1, 204, nil, nil)
	code, body, hdr := call(t, srv, "POST", "/api/users/search-email", "Bearer k", `{"email":"a@b"}`)
	require.Equal(t, 200, code)
	require.Equal(t, "<html>portal</html>", body)
	require.Equal(t, "text/html", hdr.Get("Content-Type"))
	code, body, _ = call(t, srv, "POST", "/api/users/search-email", "Bearer k", `{"email":"a@b"}`)
	require.Equal(t, 204, code)
	require.Empty(t, body)
	code, body, _ = call(t, srv, "POST", "/api/users/search-email", "Bearer k", `{"email":"a@b"}`)
	require.Equal(t, 200, code, "the canned answers are used up")
	require.Contains(t, body, `"id":1`)
	reqs := srv.Requests()
	require.Equal(t, []int{200, 204, 200}, []int{reqs[0].Status, reqs[1].Status, reqs[2].Status})
}

// A Reset while a request is inside the fake neither crashes it nor writes the
// request's status into another record.
func TestResetDuringRequest(t *testing.T) {
	s := NewServer(t)
	s.SetDelay("/api/events", 300*time.Millisecond)
	done := make(chan int, 1)
	go func() { // ends when the delayed request is answered
		resp, err := http.Post(s.URL()+"/api/events", "application/json",
			strings.NewReader(`{"integrationKey":"k","eventType":"ALERT","summary":"s"}`))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return len(s.Requests()) == 1 }, 5*time.Second, 5*time.Millisecond)
	s.Reset()
	require.Equal(t, http.StatusAccepted, <-done)
	require.Empty(t, s.Requests(), "the request before Reset is forgotten, not re-recorded")
}

// TestSetRecordOff: with recording off the fake still validates and answers, and
// keeps nothing; turned on again it records as before.
func TestSetRecordOff(t *testing.T) {
	srv := NewServer(t)
	srv.SetRecord(false)
	code, _, hdr := call(t, srv, "POST", "/api/events", "", `{"integrationKey":"k","eventType":"ALERT"}`)
	require.Equal(t, 202, code)
	require.NotEmpty(t, hdr.Get("correlation-id"))
	code, _, _ = call(t, srv, "POST", "/api/events", "", `{"integrationKey":"k","eventType":"NOPE"}`)
	require.Equal(t, 400, code, "still validated")
	require.Empty(t, srv.Requests())
	require.Empty(t, srv.Events())

	srv.SetRecord(true)
	code, _, _ = call(t, srv, "POST", "/api/events", "", `{"integrationKey":"k","eventType":"ALERT"}`)
	require.Equal(t, 202, code)
	require.Len(t, srv.Requests(), 1)
	require.Len(t, srv.Events(), 1)
}
