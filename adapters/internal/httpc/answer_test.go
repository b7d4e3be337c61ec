package httpc

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadAnswerAsReadResponse checks that the fast path reads an answer (status,
// header, body, whether the connection may be kept) as net/http does, for the plain
// answers it parses itself and for the odd but valid ones it leaves to
// http.ReadResponse.
func TestReadAnswerAsReadResponse(t *testing.T) {
	long := strings.Repeat("v", 5000)
	for _, tc := range []struct {
		name, method, raw string
		fast              bool // parsed by parseHead rather than http.ReadResponse
	}{
		{"200 with length", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", true},
		{"202 without reason", "POST", "HTTP/1.1 202\r\nContent-Length: 0\r\n\r\n", true},
		{"duplicate fields", "POST", "HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok", true},
		{"differing lengths", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", false},
		{"bad length", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nok", false},
		{"signed length", "POST", "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", false},
		{"leading zeros", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\nok", true},
		{"space in values", "POST", "HTTP/1.1 200 OK\r\nX-A: \t a b \t\r\nX-Empty:\r\nContent-Length:2\r\n\r\nok", true},
		{"obs-text value", "POST", "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n", true},
		{"folded field", "POST", "HTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\nContent-Length: 0\r\n\r\n", false},
		{"space before colon", "POST", "HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n", false},
		{"bare LF", "POST", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false},
		{"chunked with trailer", "POST", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5\r\nhello\r\n3\r\n ok\r\n0\r\nX-T: v\r\n\r\n", false},
		{"chunked and length", "POST", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n2\r\nok\r\n0\r\n\r\n", false},
		{"1xx then 200", "POST", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true},
		{"101", "POST", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n", true},
		{"204 with length", "POST", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", true},
		{"304", "POST", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", true},
		{"HEAD with length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true},
		{"HEAD without length", "HEAD", "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n", true},
		{"HEAD with bad length", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false},
		{"HTTP/1.0 until close", "POST", "HTTP/1.0 200 OK\r\n\r\nold server", true},
		{"HTTP/1.0 keep-alive", "POST", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", true},
		{"HTTP/1.1 until close", "POST", "HTTP/1.1 200 OK\r\n\r\nthe rest", true},
		{"connection close", "POST", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true},
		{"connection tokens", "POST", "HTTP/1.1 200 OK\r\nConnection: Keep-Alive , CLOSE\r\nContent-Length: 2\r\n\r\nok", true},
		{"connection keep-alive", "POST", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok", true},
		{"503 retry-after", "POST", "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy", true},
		{"302 location", "POST", "HTTP/1.1 302 Found\r\nLocation: http://u:p@elsewhere/\r\nContent-Length: 0\r\n\r\n", true},
		{"odd status", "POST", "HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n", true},
		{"two spaces", "POST", "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n", false},
		{"HTTP/2.0 line", "POST", "HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
		{"short status", "POST", "HTTP/1.1 20\r\n\r\n", false},
		{"header over the buffer", "POST", "HTTP/1.1 200 OK\r\nX-Long: " + long + "\r\nContent-Length: 2\r\n\r\nok", false},
		{"cut header", "POST", "HTTP/1.1 200 OK\r\nContent-Len", false},
		{"cut body", "POST", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true},
		{"empty", "POST", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const limit = 1 << 20
			want, wantBody, wantErr := readStd(tc.method, tc.raw, limit)
			tgt := &Target{method: tc.method}
			out := &Request{Target: tgt, KeepHeader: true, KeepBody: true}
			br := bufio.NewReader(strings.NewReader(tc.raw))
			var a answer
			var err error
			fast := true
			for {
				if a, err = readAnswer(br, nil, out); err != nil || (a.code >= 200 || a.code == http.StatusSwitchingProtocols) {
					break
				}
				fast = fast && a.resp == nil
			}
			if wantErr != nil {
				require.Error(t, err)
				require.Equal(t, wantErr.Error(), err.Error())
				return
			}
			require.NoError(t, err)
			fast = fast && a.resp == nil
			require.Equal(t, tc.fast, fast, "read by parseHead")
			require.Equal(t, want.StatusCode, a.code)
			require.Equal(t, want.Close, a.close)
			require.Equal(t, !want.ProtoAtLeast(1, 1), a.http10)
			resp := Response{StatusCode: a.code, raw: a.raw}
			if a.resp != nil {
				resp.header = a.resp.Header
			} else {
				require.Equal(t, want.Header, rawHeader(a.raw))
				got := a.response(&http.Request{Method: tc.method})
				require.Equal(t, want.Status, got.Status)
				require.Equal(t, want.Proto, got.Proto)
				require.Equal(t, want.ContentLength, got.ContentLength)
				require.Equal(t, want.Close, got.Close)
			}
			for k := range want.Header {
				name := k
				if a.resp == nil {
					name = strings.ToLower(k) // any case
				}
				require.Equal(t, want.Header.Get(k), resp.Get(name), k)
			}
			require.Empty(t, resp.Get("X-Absent"))
			var body []byte
			var rerr error
			switch {
			case a.resp != nil:
				if a.resp.ContentLength != 0 {
					body, _, rerr = readBody(a.resp.Body, limit)
				}
			case a.length > 0:
				body, _, rerr = readFixed(br, a.length, limit, true)
			case a.length < 0:
				body, _, rerr = readBody(br, limit)
			}
			require.Equal(t, string(wantBody.b), string(body))
			require.Equal(t, wantBody.err, rerr)
		})
	}
}

type bodyResult struct {
	b   []byte
	err error
}

// readStd reads raw's answers as the transport did before the fast parse: through
// http.ReadResponse, skipping 1xx answers.
func readStd(method, raw string, limit int64) (*http.Response, bodyResult, error) {
	br := bufio.NewReader(strings.NewReader(raw))
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return nil, bodyResult{}, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			var r bodyResult
			if resp.ContentLength != 0 {
				r.b, r.err = io.ReadAll(io.LimitReader(resp.Body, limit))
			}
			return resp, r, nil
		}
	}
}

// TestKeepNothing: a 2xx answer keeps neither header nor body unless asked.
func TestKeepNothing(t *testing.T) {
	out := &Request{Target: &Target{method: "POST"}}
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nok"))
	a, err := readAnswer(br, nil, out)
	require.NoError(t, err)
	require.Empty(t, a.raw)
	body, reuse, err := readFixed(br, a.length, 100, false)
	require.NoError(t, err)
	require.True(t, reuse)
	require.Nil(t, body)
	require.Zero(t, br.Buffered())
}

// TestParseHeadAgreesWithReadResponse: answers at the edge of what parseHead takes
// (empty and conflicting lengths, control bytes, odd codes) are refused or read exactly
// as http.ReadResponse refuses or reads them.
func TestParseHeadAgreesWithReadResponse(t *testing.T) {
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length:\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length:\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 02\r\n\r\nok",
		"HTTP/1.1 200 OK\r\n\x00X: 1\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 \x00OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\x80\xff\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close,\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\nok",
	} {
		stdResp, stdErr := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: "POST"})
		a, err := readAnswer(bufio.NewReader(strings.NewReader(raw)), nil, &Request{Target: &Target{method: "POST"}, KeepHeader: true})
		fast := err == nil && a.resp == nil
		switch {
		case (stdErr == nil) != (err == nil):
			t.Errorf("%q: net/http err %v, fast-path err %v (parsed by parseHead: %v, length %d)", raw, stdErr, err, fast, a.length)
		case stdErr == nil && (stdResp.ContentLength != a.length || stdResp.Close != a.close || stdResp.StatusCode != a.code):
			t.Errorf("%q: net/http length %d close %v, fast %d %v", raw, stdResp.ContentLength, stdResp.Close, a.length, a.close)
		}
	}
}
