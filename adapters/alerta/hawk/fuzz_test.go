package hawk

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
	"testing"
	"time"
)

// FuzzParseHeader feeds ParseHeader arbitrary header values. It must never panic,
// and whatever it accepts must obey mohawk's rules: at most MaxHeader bytes, only
// known names, only allowed value characters, and a re-serialization that parses to
// the same attributes.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{
		`Hawk mac="HZ0JCl5gSqVs8vhYpyeq14exwl7g3mTAe2pPU0SVjjA=", hash="rP43Xs3RKnFF9QrTmrXGzaN8lAXrMKFrk5o08pWCOhs=", id="e3b8afc0-db18-4c51-865d-b95322742c5e", ts="1700000000", nonce="Ab3dE_"`,
		`Hawk id="x", ts="1", tsm="m", nonce="n", hash="h", error="e", ext="a b", mac="m", app="a", dlg="d"`,
		`hawk id="x",ts="1",nonce="n",mac="m"`,
		`Hawk id="x", id="y"`,
		`Hawk id="x", foo="y"`,
		`Hawk id="a\"b"`,
		`Hawk id="` + strings.Repeat("a", MaxHeader) + `"`,
		`Hawk ext="!#$%&'()*+,-./:;<=>?@[]^_` + "`" + `{|}~"`,
		`Hawk `,
		`Hawk`,
		`Hawk id="x",`,
		`Hawk id="x" , ts="1"`,
		"Hawk id=\"\x00\"",
		"Hawk id=\"\xff\"",
		`Bearer abc`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseHeader(h)
		if err != nil {
			if a != nil {
				t.Fatalf("attributes %v with error %v", a, err)
			}
			return
		}
		if len(h) > MaxHeader {
			t.Fatalf("accepted a header of %d bytes", len(h))
		}
		names := make([]string, 0, len(a))
		for k, v := range a {
			if !allowed[k] {
				t.Fatalf("accepted unknown name %q", k)
			}
			for i := 0; i < len(v); i++ {
				if !valueChar(v[i]) {
					t.Fatalf("accepted byte %q in the value of %s", v[i], k)
				}
			}
			names = append(names, k)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString("Hawk ")
		for i, k := range names {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `%s="%s"`, k, a[k])
		}
		if len(b.String()) > MaxHeader {
			return // the canonical form can be longer than a compact original
		}
		again, err := ParseHeader(b.String())
		if err != nil {
			t.Fatalf("re-serialized %q does not parse: %v", b.String(), err)
		}
		if len(again) != len(a) {
			t.Fatalf("re-serialized %q parses to %v, want %v", b.String(), again, a)
		}
		for k, v := range a {
			if again[k] != v {
				t.Fatalf("re-serialized %q parses to %v, want %v", b.String(), again, a)
			}
		}
	})
}

// FuzzVerify signs a request with the vector credentials at a fuzzed ts and nonce,
// lets the fuzzer rewrite the header's ts and nonce strings, and checks that Verify
// never panics and accepts exactly when the header is the one signed (same ts and
// nonce strings), ts is not negative and |ts − now| ≤ 300 s, computed without overflow. A replay of an
// accepted header is always refused.
func FuzzVerify(f *testing.F) {
	f.Add(int64(1700000000), int64(1700000000), "Ab3dE_", "1700000000", "Ab3dE_", "POST", "/alert", "application/json", []byte(`{"a": 1}`))
	f.Add(int64(1700000000), int64(1700000299), "n", "1700000000", "n", "DELETE", "/alert/1", "", []byte(nil))
	f.Add(int64(1700000000), int64(1700000000), "n", "01700000000", "n", "GET", "/alerts?x=1", "", []byte(nil))
	f.Add(int64(1700000000), int64(1700000000), "n", "+1700000000", "n", "GET", "/alerts", "", []byte(nil))
	f.Add(int64(-9223372035154775808), int64(1700000000), "n", "-9223372035154775808", "n", "GET", "/", "", []byte(nil))
	f.Add(int64(9223372036854775807), int64(-9223372036854775808), "n", "9223372036854775807", "n", "GET", "/", "", []byte(nil))
	f.Fuzz(func(t *testing.T, ts, now int64, nonce, tsStr, nonceStr, method, resource, ct string, body []byte) {
		if !validValue(nonce) || !validValue(nonceStr) || !validValue(tsStr) {
			return
		}
		r := Request{Method: method, Host: "localhost", Port: 9001, Resource: resource, ContentType: ct, Body: body}
		signed, err := Header(vcred, r, ts, nonce)
		if err != nil {
			t.Fatal(err)
		}
		hdr := strings.Replace(signed, fmt.Sprintf(`ts="%d"`, ts), `ts="`+tsStr+`"`, 1)
		hdr = strings.Replace(hdr, `nonce="`+nonce+`"`, `nonce="`+nonceStr+`"`, 1)
		v := &Verifier{
			Lookup: func(id string) (Credentials, bool) { return vcred, id == vcred.ID },
			Now:    func() time.Time { return time.Unix(now, 0) },
		}
		_, err = v.Verify(r, hdr)
		d := new(big.Int).Sub(big.NewInt(ts), big.NewInt(now))
		inSkew := d.CmpAbs(big.NewInt(300)) <= 0
		same := tsStr == fmt.Sprint(ts) && nonceStr == nonce
		if want := same && inSkew && len(hdr) <= MaxHeader && nonce != "" && ts >= 0; (err == nil) != want {
			t.Fatalf("Verify(%q) at %d: err %v, want accepted %v", hdr, now, err, want)
		}
		if err == nil {
			if _, err := v.Verify(r, hdr); err != ErrReplay {
				t.Fatalf("replay of %q: err %v, want ErrReplay", hdr, err)
			}
		}
	})
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if !valueChar(s[i]) {
			return false
		}
	}
	return true
}
