package ilert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/internal/httpc"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// PolicyUpdate is the payload of an event of kind [adapters.KindPolicy]: assign the
// user with this e-mail address to level Shift (0-based) of the escalation policy
// that RoutingKey resolves to (spec §3.3 and §8). The mapping builds it; the event's
// Key is the routing key, so that updates of one policy are applied in order.
type PolicyUpdate struct {
	Email      string `json:"email"`
	Shift      int64  `json:"shift"`
	RoutingKey string `json:"routingKey"`
}

// check reports the first field that makes u unusable.
func (u PolicyUpdate) check() error {
	switch {
	case u.Email == "":
		return errors.New("email: empty")
	case u.RoutingKey == "":
		return errors.New("routingKey: empty")
	case u.Shift < 0:
		return fmt.Errorf("shift: %d is negative", u.Shift)
	}
	return nil
}

// Encode renders u as JSON ({"email":…,"shift":…,"routingKey":…}) without escaping <,
// > and & and without a trailing newline. An update DecodePolicyUpdate would refuse
// is an error.
func (u PolicyUpdate) Encode() ([]byte, error) {
	if err := u.check(); err != nil {
		return nil, fmt.Errorf("encode policy update: %w", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(u); err != nil {
		return nil, fmt.Errorf("encode policy update: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// DecodePolicyUpdate decodes a policy event's payload. It must be a JSON object with
// a non-empty string email, a non-empty string routingKey and an integer shift >= 0;
// other fields are ignored.
func DecodePolicyUpdate(b []byte) (PolicyUpdate, error) {
	var raw struct {
		Email      *string `json:"email"`
		Shift      *int64  `json:"shift"`
		RoutingKey *string `json:"routingKey"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return PolicyUpdate{}, fmt.Errorf("payload is not a policy update object: %w", err)
	}
	switch {
	case raw.Email == nil:
		return PolicyUpdate{}, errors.New("email: missing")
	case raw.Shift == nil:
		return PolicyUpdate{}, errors.New("shift: missing")
	case raw.RoutingKey == nil:
		return PolicyUpdate{}, errors.New("routingKey: missing")
	}
	u := PolicyUpdate{Email: *raw.Email, Shift: *raw.Shift, RoutingKey: *raw.RoutingKey}
	return u, u.check()
}

// maxPolicyAnswer bounds the answers of the policy calls: a resolved policy lists
// every level with its users, which can be far longer than an event's answer.
const maxPolicyAnswer = 1 << 20

// DefaultEscalationTimeout is sent when the resolved policy has no timeout for the
// level being updated (no escalationRules, no such index, or no integer field), as
// ilagent does.
const DefaultEscalationTimeout = 1

// sendPolicy applies a policy update: search the user by e-mail, resolve the policy
// by routing key, then PUT the level with the level's current timeout and the user.
// The user comes first, so a failed user lookup never touches the policy API.
func (s *Sink) sendPolicy(ctx context.Context, client *http.Client, apiKey string, e *adapters.Event) error {
	upd, err := DecodePolicyUpdate(e.Payload)
	if err != nil {
		return adapters.Permanent(fmt.Errorf("ilert policy update %s: %w", e.ID, err))
	}
	if apiKey == "" {
		return adapters.Permanent(fmt.Errorf("ilert policy update %s: no API key configured; the escalation-policy API needs api_key, api_key_file, api_key_env or ILERT_API_KEY", e.ID))
	}

	body, err := encodeJSON(struct {
		Email string `json:"email"`
	}{upd.Email})
	if err == nil {
		body, err = s.policyCall(ctx, client, apiKey, http.MethodPost, s.cfg.APIHost+"/api/users/search-email", body)
	}
	var user map[string]json.RawMessage
	if err == nil {
		user, err = answerObject(body)
	}
	var userID int64
	if err == nil {
		userID, err = answerID(user)
	}
	if err != nil {
		return fmt.Errorf("ilert policy update %s: find user %q: %w", e.ID, upd.Email, err)
	}

	body, err = s.policyCall(ctx, client, apiKey, http.MethodGet,
		s.cfg.APIHost+"/api/escalation-policies/resolve?routing-key="+url.QueryEscape(upd.RoutingKey), nil)
	var pol map[string]json.RawMessage
	if err == nil {
		pol, err = answerObject(body)
	}
	var policyID int64
	if err == nil {
		policyID, err = answerID(pol)
	}
	if err != nil {
		return fmt.Errorf("ilert policy update %s: resolve policy for routing key %q: %w", e.ID, upd.RoutingKey, err)
	}

	type userRef struct {
		ID int64 `json:"id"`
	}
	timeout := escalationTimeout(pol, upd.Shift)
	body, err = encodeJSON(struct {
		EscalationTimeout int64     `json:"escalationTimeout"`
		Users             []userRef `json:"users"`
	}{timeout, []userRef{{userID}}})
	if err == nil {
		_, err = s.policyCall(ctx, client, apiKey, http.MethodPut,
			fmt.Sprintf("%s/api/escalation-policies/%d/levels/%d", s.cfg.APIHost, policyID, upd.Shift), body)
	}
	if err != nil {
		return fmt.Errorf("ilert policy update %s: update level %d of policy %d: %w", e.ID, upd.Shift, policyID, err)
	}
	s.log.Debug("ilert escalation level updated", "event_id", e.ID, "policy_id", policyID,
		"level", upd.Shift, "user_id", userID, "escalation_timeout", timeout)
	return nil
}

// policyCall sends one policy API request and returns the answer's body. Only 200
// is success; 408, 429, 5xx and transport errors are retryable (with Retry-After),
// every other answer is [adapters.Permanent].
func (s *Sink) policyCall(ctx context.Context, client *http.Client, apiKey, method, u string, body []byte) ([]byte, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, adapters.Permanent(fmt.Errorf("build request: %w", secret.URLError(err)))
	}
	req.Header = s.staticHeader(apiKey).HTTPHeader()
	resp, answer, err := httpc.Do(client, req, maxPolicyAnswer)
	if err != nil {
		return nil, err
	}
	where := method + " " + httpc.RedactURL(req.URL.String())
	if resp.StatusCode != http.StatusOK {
		return nil, adapters.Permanent(fmt.Errorf("%s: %w", where,
			&UnexpectedStatusError{StatusError: httpc.StatusError{StatusCode: resp.StatusCode, Excerpt: httpc.Excerpt(answer, httpc.MaxExcerpt)}, Want: http.StatusOK}))
	}
	if len(answer) >= maxPolicyAnswer {
		return nil, adapters.Permanent(fmt.Errorf("%s: answer longer than %d bytes", where, maxPolicyAnswer))
	}
	return answer, nil
}

// answerObject decodes a 200 answer as a JSON object. Anything else is permanent:
// ilert answers JSON, so a 200 with another body comes from something in the way.
func answerObject(body []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, adapters.Permanent(fmt.Errorf("answer 200 is not a JSON object: %s", httpc.Excerpt(body, httpc.MaxExcerpt)))
	}
	return m, nil
}

// answerID reads the integer id of an answer object; a missing or non-integer id is
// permanent.
func answerID(m map[string]json.RawMessage) (int64, error) {
	raw, ok := m["id"]
	if !ok {
		return 0, adapters.Permanent(errors.New(`answer 200 has no "id"`))
	}
	id, ok := jsonInt(raw)
	if !ok {
		return 0, adapters.Permanent(fmt.Errorf(`answer 200 has an "id" that is not an integer: %s`, httpc.Excerpt(raw, 32)))
	}
	return id, nil
}

// escalationTimeout returns escalationRules[shift].escalationTimeout of a resolved
// policy, or DefaultEscalationTimeout when the rules, the level or an integer field
// is missing.
func escalationTimeout(pol map[string]json.RawMessage, shift int64) int64 {
	var rules []json.RawMessage
	if json.Unmarshal(pol["escalationRules"], &rules) != nil || shift < 0 || shift >= int64(len(rules)) {
		return DefaultEscalationTimeout
	}
	var rule map[string]json.RawMessage
	if json.Unmarshal(rules[shift], &rule) != nil {
		return DefaultEscalationTimeout
	}
	if t, ok := jsonInt(rule["escalationTimeout"]); ok {
		return t
	}
	return DefaultEscalationTimeout
}

// jsonInt reads raw as a JSON integer that fits in an int64 (not 5.0, 1e2 or "5").
func jsonInt(raw json.RawMessage) (int64, bool) {
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	return n, err == nil
}

// encodeJSON marshals v without escaping <, > and & and without a trailing newline.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, adapters.Permanent(fmt.Errorf("encode request: %w", err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
