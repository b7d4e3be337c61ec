package alerta

import (
	"encoding/json"
	"testing"
)

func FuzzPyJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,-0,1e400],"b":{"a":1,"a":2}}`, `"\ud800\udc00\ud800"`, `[[[[]]]]`, `null`, `"é😀\u0001"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := PyJSON(b)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("PyJSON(%q) = %q, not JSON", b, out)
		}
		// Re-encoding is stable: the output is its own py form.
		again, err := PyJSON(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("PyJSON not idempotent on %q: %q, %v", out, again, err)
		}
		// The compact form means the same.
		c, err := compactJSON(b)
		if err != nil {
			t.Fatalf("compactJSON failed where PyJSON did not: %v", err)
		}
		p2, err := PyJSON(c)
		if err != nil || string(p2) != string(out) {
			t.Fatalf("PyJSON(compact) = %q, want %q (%v)", p2, out, err)
		}
	})
}

func FuzzDecodeAlert(f *testing.F) {
	f.Add([]byte(sample21))
	f.Add([]byte(`{"resource":"r","event":"e","value":-0,"attributes":{"a":{"b":[1]}},"correlate":["x"]}`))
	f.Add([]byte(`{"resource":"r","event":"e","createTime":"2026-01-02T03:04:05.1Z","timeout":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, e := DecodeAlert(b, defaults())
		if e != nil {
			if a != nil || (e.Code != 400 && e.Code != 500) || e.Message == "" {
				t.Fatalf("bad error %+v", e)
			}
			return
		}
		body := a.Encode()
		if !json.Valid(body) {
			t.Fatalf("Encode gave invalid JSON %q", body)
		}
		// What we send decodes to the same alert (status is not sent).
		b2, e := DecodeAlert(body, defaults())
		if e != nil {
			t.Fatalf("re-decode of %q: %v", body, e)
		}
		if string(b2.Encode()) != string(body) {
			t.Fatalf("round trip changed %q into %q", body, b2.Encode())
		}
	})
}
