package ilert

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/ilert/ilerttest"
)

const policyAPIKey = "il1api-policy-admin"

// policyFake is a fake seeded with the users and policies of scenarios 63–68.
func policyFake(t *testing.T) *ilerttest.Server {
	srv := ilerttest.NewServer(t)
	srv.SetAPIKey(policyAPIKey)
	srv.AddUser("support@ilert.com", 99)
	srv.AddUser("one@example.com", 1)
	srv.AddUser("three@example.com", 3)
	srv.AddPolicy("powerplant", ilerttest.Policy{ID: 42, Rules: []ilerttest.Rule{{EscalationTimeout: 0}, {EscalationTimeout: 5}}})
	srv.AddPolicy("powerplantthree50", ilerttest.Policy{ID: 10, Rules: []ilerttest.Rule{{EscalationTimeout: 9}, {EscalationTimeout: 3}}})
	srv.AddPolicy("plant5", ilerttest.Policy{ID: 5, Rules: []ilerttest.Rule{{EscalationTimeout: 0}}})
	srv.AddPolicy("east", ilerttest.Policy{ID: 7, Rules: []ilerttest.Rule{{}, {}, {EscalationTimeout: 10}}})
	return srv
}

func policySink(t *testing.T, srv *ilerttest.Server) *Sink {
	cfg := hostCfg(srv)
	cfg.APIKey = policyAPIKey
	return newSink(t, cfg, testDeps())
}

func policyEvent(t *testing.T, u PolicyUpdate) *adapters.Event {
	t.Helper()
	b, err := u.Encode()
	require.NoError(t, err)
	return &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindPolicy, Key: u.RoutingKey, Payload: b}
}

// call is the part of a recorded request the policy tests compare.
type call struct{ Method, Path, Query, Body string }

func calls(srv *ilerttest.Server) []call {
	var out []call
	for _, r := range srv.Requests() {
		out = append(out, call{r.Method, r.Path, r.Query, string(r.Body)})
	}
	return out
}

func searchCall(email string) call {
	return call{"POST", "/api/users/search-email", "", `{"email":"` + email + `"}`}
}

func resolveCall(query string) call {
	return call{"GET", "/api/escalation-policies/resolve", "routing-key=" + query, ""}
}

func TestPolicyScenarios(t *testing.T) {
	for _, tc := range []struct {
		name string
		upd  PolicyUpdate
		want []call
		lvl  ilerttest.LevelUpdate
	}{
		{"63/sample", PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"},
			[]call{searchCall("support@ilert.com"), resolveCall("powerplant"),
				{"PUT", "/api/escalation-policies/42/levels/1", "", `{"escalationTimeout":5,"users":[{"id":99}]}`}},
			ilerttest.LevelUpdate{PolicyID: 42, Shift: 1, EscalationTimeout: 5, Users: []int64{99}}},
		{"64/concatenated_key", PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplantthree50"},
			[]call{searchCall("support@ilert.com"), resolveCall("powerplantthree50"),
				{"PUT", "/api/escalation-policies/10/levels/1", "", `{"escalationTimeout":3,"users":[{"id":99}]}`}},
			ilerttest.LevelUpdate{PolicyID: 10, Shift: 1, EscalationTimeout: 3, Users: []int64{99}}},
		{"65/level_0", PolicyUpdate{Email: "one@example.com", Shift: 0, RoutingKey: "plant5"},
			[]call{searchCall("one@example.com"), resolveCall("plant5"),
				{"PUT", "/api/escalation-policies/5/levels/0", "", `{"escalationTimeout":0,"users":[{"id":1}]}`}},
			ilerttest.LevelUpdate{PolicyID: 5, Shift: 0, EscalationTimeout: 0, Users: []int64{1}}},
		{"66/custom_paths", PolicyUpdate{Email: "three@example.com", Shift: 2, RoutingKey: "east"},
			[]call{searchCall("three@example.com"), resolveCall("east"),
				{"PUT", "/api/escalation-policies/7/levels/2", "", `{"escalationTimeout":10,"users":[{"id":3}]}`}},
			ilerttest.LevelUpdate{PolicyID: 7, Shift: 2, EscalationTimeout: 10, Users: []int64{3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := policyFake(t)
			s := policySink(t, srv)
			require.NoError(t, s.Send(context.Background(), policyEvent(t, tc.upd)))
			require.Equal(t, tc.want, calls(srv), "each call exactly once, user before policy")
			require.Equal(t, []ilerttest.LevelUpdate{tc.lvl}, srv.LevelUpdates())
			for _, r := range srv.Requests() {
				require.Equal(t, http.StatusOK, r.Status)
				require.Equal(t, "Bearer "+policyAPIKey, r.Header.Get("Authorization"))
				require.Equal(t, "edgerelay/test", r.Header.Get("User-Agent"))
				require.Equal(t, "application/json", r.Header.Get("Accept"))
				require.Equal(t, "application/json", r.Header.Get("Content-Type"))
			}
		})
	}
}

func TestPolicyWithoutRulesUsesTimeout1(t *testing.T) { // scenario 68
	srv := policyFake(t)
	s := policySink(t, srv)
	srv.RespondNext("/api/escalation-policies/resolve", 1, http.StatusOK,
		http.Header{"Content-Type": {"application/json"}}, []byte(`{"id":42,"name":"no rules shown"}`))
	require.NoError(t, s.Send(context.Background(), policyEvent(t, PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"})))
	require.Equal(t, call{"PUT", "/api/escalation-policies/42/levels/1", "", `{"escalationTimeout":1,"users":[{"id":99}]}`}, calls(srv)[2])

	for _, tc := range []struct{ name, answer string }{
		{"index_missing", `{"id":42,"escalationRules":[{"escalationTimeout":7}]}`},
		{"field_missing", `{"id":42,"escalationRules":[{},{}]}`},
		{"field_not_integer", `{"id":42,"escalationRules":[{},{"escalationTimeout":2.5}]}`},
		{"field_null", `{"id":42,"escalationRules":[{},{"escalationTimeout":null}]}`},
		{"rules_not_array", `{"id":42,"escalationRules":{"1":{"escalationTimeout":4}}}`},
		{"rule_not_object", `{"id":42,"escalationRules":[1,2]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			srv.RespondNext("/api/escalation-policies/resolve", 1, http.StatusOK, nil, []byte(tc.answer))
			require.NoError(t, s.Send(context.Background(), policyEvent(t, PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"})))
			require.Equal(t, `{"escalationTimeout":1,"users":[{"id":99}]}`, calls(srv)[2].Body)
		})
	}
}

func TestPolicyStatusRules(t *testing.T) { // scenario 67 and §8 steps 6–9
	upd := PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"}
	for _, tc := range []struct {
		name    string
		pattern string // the endpoint that fails
		status  int
		want    string // outcome
		calls   int    // requests made
		msg     string // substring of the error
	}{
		{"user_500", "/api/users/search-email", 500, "retry", 1, `find user "support@ilert.com": POST http`},
		{"user_503", "/api/users/search-email", 503, "retry", 1, "status 503"},
		{"user_429", "/api/users/search-email", 429, "retry", 1, "status 429"},
		{"user_408", "/api/users/search-email", 408, "retry", 1, "status 408"},
		{"user_404", "/api/users/search-email", 404, "permanent", 1, "status 404 Not Found: "},
		{"user_400", "/api/users/search-email", 400, "permanent", 1, "status 400"},
		{"user_401", "/api/users/search-email", 401, "permanent", 1, "status 401"},
		{"user_201", "/api/users/search-email", 201, "permanent", 1, "status 201 Created, want 200 OK"},
		{"user_302", "/api/users/search-email", 302, "permanent", 1, "status 302"},
		{"policy_500", "/api/escalation-policies/resolve", 500, "retry", 2, `resolve policy for routing key "powerplant": GET http`},
		{"policy_404", "/api/escalation-policies/resolve", 404, "permanent", 2, "status 404"},
		{"policy_204", "/api/escalation-policies/resolve", 204, "permanent", 2, "status 204 No Content, want 200 OK"},
		{"put_502", "/api/escalation-policies/42/levels/1", 502, "retry", 3, "update level 1 of policy 42: PUT http"},
		{"put_400", "/api/escalation-policies/42/levels/1", 400, "permanent", 3, "status 400"},
		{"put_201", "/api/escalation-policies/42/levels/1", 201, "permanent", 3, "want 200 OK"},
		{"put_204", "/api/escalation-policies/42/levels/1", 204, "permanent", 3, "want 200 OK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := policyFake(t)
			s := policySink(t, srv)
			srv.FailNext(tc.pattern, 1, tc.status)
			err := s.Send(context.Background(), policyEvent(t, upd))
			require.Equal(t, tc.want, outcome(err), "error: %v", err)
			require.ErrorContains(t, err, tc.msg)
			require.Len(t, srv.Requests(), tc.calls, "no call after the failed one")
			require.Empty(t, srv.LevelUpdates())
			if tc.want == "retry" {
				srv.Reset()
				require.NoError(t, s.Send(context.Background(), policyEvent(t, upd)), "the retry succeeds")
				require.Len(t, srv.LevelUpdates(), 1)
			}
		})
	}
}

func TestPolicyUnknownUserIsPermanent(t *testing.T) { // scenario 67: a real 404
	srv := policyFake(t)
	s := policySink(t, srv)
	err := s.Send(context.Background(), policyEvent(t, PolicyUpdate{Email: "nobody@example.com", Shift: 0, RoutingKey: "powerplant"}))
	require.Equal(t, "permanent", outcome(err), "error: %v", err)
	require.ErrorContains(t, err, "no user with that email")
	require.Equal(t, []call{searchCall("nobody@example.com")}, calls(srv), "the policy endpoint is never called")
}

func TestPolicyRetryAfter(t *testing.T) {
	srv := policyFake(t)
	s := policySink(t, srv)
	srv.FailNextWithHeader("/api/escalation-policies/resolve", 1, 429, http.Header{"Retry-After": {"7"}})
	err := s.Send(context.Background(), policyEvent(t, PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"}))
	require.Equal(t, "retry", outcome(err), "error: %v", err)
	d, ok := adapters.RetryDelay(err)
	require.True(t, ok, "the Retry-After hint survives the wrapping")
	require.Equal(t, 7*time.Second, d)
}

func TestPolicyNetworkErrorsAreRetried(t *testing.T) { // fix of spec §11.1
	upd := PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"}
	for _, tc := range []struct {
		pattern string
		drops   int    // a request lost on a reused connection is sent once more on a fresh one
		last    string // the path of the last request made
	}{
		{"/api/users/search-email", 1, "/api/users/search-email"},
		{"/api/escalation-policies/resolve", 2, "/api/escalation-policies/resolve"},
		{"/api/escalation-policies/*/levels/*", 2, "/api/escalation-policies/42/levels/1"},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			srv := policyFake(t)
			s := policySink(t, srv)
			srv.DropNext(tc.pattern, tc.drops)
			err := s.Send(context.Background(), policyEvent(t, upd))
			require.Error(t, err)
			require.Equal(t, "retry", outcome(err), "error: %v", err)
			reqs := srv.Requests()
			require.Equal(t, tc.last, reqs[len(reqs)-1].Path, "nothing after the dropped call")
			require.Zero(t, reqs[len(reqs)-1].Status)
			require.Empty(t, srv.LevelUpdates())
			srv.Reset()
			require.NoError(t, s.Send(context.Background(), policyEvent(t, upd)), "works again after the fault")
			require.Len(t, srv.LevelUpdates(), 1)
		})
	}

	t.Run("server_stopped", func(t *testing.T) {
		srv := policyFake(t)
		s := policySink(t, srv)
		srv.Close()
		err := s.Send(context.Background(), policyEvent(t, upd))
		require.Equal(t, "retry", outcome(err), "error: %v", err)
	})
}

func TestPolicyBadAnswersArePermanent(t *testing.T) { // §11.1: ilagent drops these, so does edgerelay, visibly
	upd := PolicyUpdate{Email: "support@ilert.com", Shift: 1, RoutingKey: "powerplant"}
	for _, tc := range []struct {
		name, pattern, answer, msg string
		calls                      int
	}{
		{"user_not_json", "/api/users/search-email", `<html>captive portal</html>`, "answer 200 is not a JSON object: <html>captive portal</html>", 1},
		{"user_empty", "/api/users/search-email", ``, "answer 200 is not a JSON object", 1},
		{"user_array", "/api/users/search-email", `[{"id":1}]`, "answer 200 is not a JSON object", 1},
		{"user_no_id", "/api/users/search-email", `{"email":"support@ilert.com"}`, `answer 200 has no "id"`, 1},
		{"user_string_id", "/api/users/search-email", `{"id":"99"}`, `"id" that is not an integer: "99"`, 1},
		{"user_float_id", "/api/users/search-email", `{"id":99.5}`, `"id" that is not an integer: 99.5`, 1},
		{"user_null_id", "/api/users/search-email", `{"id":null}`, `"id" that is not an integer: null`, 1},
		{"policy_not_json", "/api/escalation-policies/resolve", `ok`, "resolve policy for routing key \"powerplant\": answer 200 is not a JSON object: ok", 2},
		{"policy_no_id", "/api/escalation-policies/resolve", `{"escalationRules":[]}`, `answer 200 has no "id"`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := policyFake(t)
			s := policySink(t, srv)
			srv.RespondNext(tc.pattern, 1, http.StatusOK, nil, []byte(tc.answer))
			err := s.Send(context.Background(), policyEvent(t, upd))
			require.Equal(t, "permanent", outcome(err), "error: %v", err)
			require.ErrorContains(t, err, tc.msg)
			require.Len(t, srv.Requests(), tc.calls)
		})
	}
}

func TestPolicyRequestDetails(t *testing.T) {
	srv := policyFake(t)
	s := policySink(t, srv)
	ctx := context.Background()

	// The routing key is query-escaped and the e-mail sent without HTML escaping.
	srv.AddPolicy("a b&c/d+é", ilerttest.Policy{ID: 8, Rules: []ilerttest.Rule{{EscalationTimeout: 2}}})
	srv.AddUser("o'neil+<ops>@example.com", 12)
	require.NoError(t, s.Send(ctx, policyEvent(t, PolicyUpdate{Email: "o'neil+<ops>@example.com", RoutingKey: "a b&c/d+é"})))
	require.Equal(t, []call{
		searchCall("o'neil+<ops>@example.com"),
		resolveCall("a+b%26c%2Fd%2B%C3%A9"),
		{"PUT", "/api/escalation-policies/8/levels/0", "", `{"escalationTimeout":2,"users":[{"id":12}]}`},
	}, calls(srv))

	// A level the policy does not have is not created: ilert refuses it.
	srv.Reset()
	err := s.Send(ctx, policyEvent(t, PolicyUpdate{Email: "support@ilert.com", Shift: 5, RoutingKey: "powerplant"}))
	require.Equal(t, "permanent", outcome(err), "error: %v", err)
	require.ErrorContains(t, err, "update level 5 of policy 42")
	require.Equal(t, `{"escalationTimeout":1,"users":[{"id":99}]}`, calls(srv)[2].Body)

	// A wrong API key is permanent.
	srv.Reset()
	srv.SetAPIKey("another-key")
	err = s.Send(ctx, policyEvent(t, PolicyUpdate{Email: "support@ilert.com", RoutingKey: "powerplant"}))
	require.Equal(t, "permanent", outcome(err), "error: %v", err)
	require.ErrorContains(t, err, "status 401")
}

func TestPolicyInvalidOrUnconfigured(t *testing.T) {
	srv := policyFake(t)
	s := policySink(t, srv)
	t.Setenv(DefaultAPIKeyEnv, "")
	noKey := newSink(t, hostCfg(srv), testDeps())
	ctx := context.Background()
	for _, tc := range []struct{ name, payload, msg string }{
		{"not_json", `not json`, "not a policy update object"},
		{"alert_body", `{"eventType":"ALERT"}`, "email: missing"},
		{"empty_email", `{"email":"","shift":0,"routingKey":"k"}`, "email: empty"},
		{"no_shift", `{"email":"a@b","routingKey":"k"}`, "shift: missing"},
		{"negative_shift", `{"email":"a@b","shift":-1,"routingKey":"k"}`, "shift: -1 is negative"},
		{"float_shift", `{"email":"a@b","shift":1.5,"routingKey":"k"}`, "not a policy update object"},
		{"string_shift", `{"email":"a@b","shift":"1","routingKey":"k"}`, "not a policy update object"},
		{"no_routing_key", `{"email":"a@b","shift":1}`, "routingKey: missing"},
		{"empty_routing_key", `{"email":"a@b","shift":1,"routingKey":""}`, "routingKey: empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Send(ctx, &adapters.Event{ID: "ev1", Kind: adapters.KindPolicy, Payload: []byte(tc.payload)})
			require.Equal(t, "permanent", outcome(err), "error: %v", err)
			require.ErrorContains(t, err, "ilert policy update ev1: ")
			require.ErrorContains(t, err, tc.msg)
		})
	}
	err := noKey.Send(ctx, policyEvent(t, PolicyUpdate{Email: "support@ilert.com", RoutingKey: "powerplant"}))
	require.Equal(t, "permanent", outcome(err), "error: %v", err)
	require.ErrorContains(t, err, "no API key configured")
	require.Empty(t, srv.Requests(), "no request without a valid update and an API key")
}

func TestPolicySecretsScrubbed(t *testing.T) {
	srv := policyFake(t)
	s := policySink(t, srv)
	srv.RespondNext("/api/users/search-email", 1, http.StatusForbidden, nil,
		[]byte(`{"message":"token `+policyAPIKey+` is not allowed"}`))
	err := s.Send(context.Background(), policyEvent(t, PolicyUpdate{Email: "support@ilert.com", RoutingKey: "powerplant"}))
	require.Equal(t, "permanent", outcome(err))
	require.NotContains(t, err.Error(), policyAPIKey)
	require.Contains(t, err.Error(), "token *** is not allowed")
}

func TestPolicyUpdateEncodeDecode(t *testing.T) {
	u := PolicyUpdate{Email: "a<b>&c@example.com", Shift: 3, RoutingKey: "plant"}
	b, err := u.Encode()
	require.NoError(t, err)
	require.Equal(t, `{"email":"a<b>&c@example.com","shift":3,"routingKey":"plant"}`, string(b))
	got, err := DecodePolicyUpdate(b)
	require.NoError(t, err)
	require.Equal(t, u, got)

	got, err = DecodePolicyUpdate([]byte(`{"email":"a@b","shift":0,"routingKey":"k","future":true}`))
	require.NoError(t, err, "unknown fields are ignored")
	require.Equal(t, PolicyUpdate{Email: "a@b", RoutingKey: "k"}, got)

	for _, bad := range []PolicyUpdate{{RoutingKey: "k"}, {Email: "a@b"}, {Email: "a@b", RoutingKey: "k", Shift: -1}} {
		_, err := bad.Encode()
		require.Error(t, err, "%+v", bad)
	}
	require.False(t, strings.Contains(string(b), "\n"))
}
