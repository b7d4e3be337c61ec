package httpc

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

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
