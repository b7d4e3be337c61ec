package hawk

import (
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The known-answer vectors of the federation spec §4.2 (checked there against
// mohawk and an independent implementation).
var (
	vcred = Credentials{ID: "e3b8afc0-db18-4c51-865d-b95322742c5e", Key: "MDhjZGMyYTRkY2YyNjk1MTEyMWFlNmM3Y2UxZDU1ZjIK"}
	vts   = int64(1700000000)
	vnon  = "Ab3dE_"
)

var vectors = []struct {
	name      string
	r         Request
	hash, mac string
}{
	{"POST alert", Request{Method: "POST", Host: "localhost", Port: 9001, Resource: "/alert", ContentType: "application/json",
		Body: []byte(`{"resource": "web01", "event": "HttpError", "environment": "Production", "service": ["Web"], "severity": "major"}`)},
		"rP43Xs3RKnFF9QrTmrXGzaN8lAXrMKFrk5o08pWCOhs=", "HZ0JCl5gSqVs8vhYpyeq14exwl7g3mTAe2pPU0SVjjA="},
	{"PUT action", Request{Method: "PUT", Host: "localhost", Port: 9001, Resource: "/alert/b528c6f7-0925-4f6d-b930-fa6c0bba51dc/action", ContentType: "application/json",
		Body: []byte(`{"action": "ack", "text": "ack operator action", "timeout": null}`)},
		"9hdumuH6HQrxCRanMBeAQiwBtC8y1hmu/2TpEcOD5fY=", "hwGnl0dsfFckhDjotSE0/lzgXp2/X3OkE2W7FgqeOhc="},
	{"DELETE over TLS, empty body", Request{Method: "DELETE", Host: "alerta.example.com", Port: 443, Resource: "/api/alert/b528c6f7-0925-4f6d-b930-fa6c0bba51dc", ContentType: "application/json"},
		"NVuBm+XMyya3Tq4EhpZ0cQWjVUyIA8sKnySkKDOIM4M=", "Z8yS1ihn82oNxQg8RID5z9R79WJdlWpg3ux9x0zc+zg="},
	{"GET with a query", Request{Method: "GET", Host: "localhost", Port: 80, Resource: "/alerts?status=open&page-size=1", ContentType: "application/json"},
		"NVuBm+XMyya3Tq4EhpZ0cQWjVUyIA8sKnySkKDOIM4M=", "Yo4n6UdFh/dkyiv1Z+T3roQSSsDPbq8ArT/30yUoWEY="},
}

func TestKnownAnswers(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			h, err := PayloadHash("", v.r.ContentType, v.r.Body)
			require.NoError(t, err)
			require.Equal(t, v.hash, h)
			mac, err := MAC(vcred, Normalized(vts, vnon, v.r, h, ""))
			require.NoError(t, err)
			require.Equal(t, v.mac, mac)
		})
	}
	require.Equal(t, "hawk.1.header\n1700000000\nAb3dE_\nPOST\n/alert\nlocalhost\n9001\nrP43Xs3RKnFF9QrTmrXGzaN8lAXrMKFrk5o08pWCOhs=\n\n",
		Normalized(vts, vnon, vectors[0].r, vectors[0].hash, ""))
	hdr, err := Header(vcred, vectors[0].r, vts, vnon)
	require.NoError(t, err)
	require.Equal(t, `Hawk mac="HZ0JCl5gSqVs8vhYpyeq14exwl7g3mTAe2pPU0SVjjA=", hash="rP43Xs3RKnFF9QrTmrXGzaN8lAXrMKFrk5o08pWCOhs=", id="e3b8afc0-db18-4c51-865d-b95322742c5e", ts="1700000000", nonce="Ab3dE_"`, hdr)
	// The media type alone is hashed.
	h, err := PayloadHash("sha256", "Application/JSON; charset=UTF-8", vectors[0].r.Body)
	require.NoError(t, err)
	require.Equal(t, vectors[0].hash, h)
}

func TestParseHeader(t *testing.T) {
	a, err := ParseHeader(`hawk id="x",ts="1",  nonce="n", mac="m+/=", ext="a b:c"`)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"id": "x", "ts": "1", "nonce": "n", "mac": "m+/=", "ext": "a b:c"}, a)
	for _, tc := range []struct{ h, want string }{
		{`Bearer abc`, "not a Hawk header"},
		{`Hawk id="x", foo="y"`, "unknown Hawk key 'foo' when parsing header"},
		{`Hawk id="x", id="y"`, "duplicate key 'id'"},
		{`Hawk id="x\y"`, "bad character"},
		{`Hawk id="x" ts="1"`, "bad header syntax"},
		{`Hawk id=x`, "bad header syntax"},
		{`Hawk id="x",`, "bad header syntax"},
		{`Hawk id="` + strings.Repeat("a", MaxHeader) + `"`, "header too long"},
	} {
		_, err := ParseHeader(tc.h)
		require.ErrorContains(t, err, tc.want, tc.h)
	}
}

func verifier(now int64) *Verifier {
	return &Verifier{
		Lookup: func(id string) (Credentials, bool) { return vcred, id == vcred.ID },
		Now:    func() time.Time { return time.Unix(now, 0) },
	}
}

func TestVerify(t *testing.T) {
	r := vectors[0].r
	sign := func(c Credentials, r Request, ts int64, nonce string) string {
		h, err := Header(c, r, ts, nonce)
		require.NoError(t, err)
		return h
	}
	v := verifier(vts)
	id, err := v.Verify(r, sign(vcred, r, vts, vnon))
	require.NoError(t, err)
	require.Equal(t, vcred.ID, id)

	_, err = v.Verify(r, sign(vcred, r, vts, vnon))
	require.ErrorIs(t, err, ErrReplay, "beyond Alerta: the same nonce and ts twice")

	other := vcred
	other.ID = "nobody"
	_, err = v.Verify(r, sign(other, r, vts, "n1"))
	require.ErrorIs(t, err, ErrUnknownID)

	wrong := vcred
	wrong.Key = "not the key"
	_, err = v.Verify(r, sign(wrong, r, vts, "n2"))
	require.ErrorIs(t, err, ErrMAC)
	require.NotContains(t, err.Error(), vectors[0].mac, "the expected MAC is never told")

	sha512 := vcred
	sha512.Algorithm = "sha512"
	_, err = v.Verify(r, sign(sha512, r, vts, "n3"))
	require.ErrorIs(t, err, ErrMAC, "signed with sha512 for a sha256 id")

	tampered := r
	tampered.Body = []byte(`{"resource": "web02"}`)
	_, err = v.Verify(tampered, sign(vcred, r, vts, "n4"))
	require.ErrorIs(t, err, ErrHash)

	for _, tc := range []struct {
		skew int64
		ok   bool
	}{{-299, true}, {-301, false}, {299, true}, {301, false}} {
		_, err := v.Verify(r, sign(vcred, r, vts+tc.skew, fmt.Sprintf("s%d", tc.skew)))
		if tc.ok {
			require.NoError(t, err, "skew %d", tc.skew)
		} else {
			require.ErrorIs(t, err, ErrExpired, "skew %d", tc.skew)
		}
	}
}

// TestVerifyWithoutHash: a header without a hash attribute passes only for an empty
// body without Content-Type (Alerta: a DELETE with Content-Type and no hash is 401).
func TestVerifyWithoutHash(t *testing.T) {
	v := verifier(vts)
	unhashed := func(r Request, nonce string) string {
		mac, err := MAC(vcred, Normalized(vts, nonce, r, "", ""))
		require.NoError(t, err)
		return fmt.Sprintf(`Hawk mac="%s", id="%s", ts="%d", nonce="%s"`, mac, vcred.ID, vts, nonce)
	}
	del := Request{Method: "DELETE", Host: "localhost", Port: 9001, Resource: "/alert/1"}
	_, err := v.Verify(del, unhashed(del, "d1"))
	require.NoError(t, err)
	del.ContentType = "application/json"
	_, err = v.Verify(del, unhashed(del, "d2"))
	require.ErrorIs(t, err, ErrHash)
}

// TestReplayCacheIsBounded: the cache holds at most MaxNonces entries.
func TestReplayCacheIsBounded(t *testing.T) {
	v := verifier(vts)
	v.MaxNonces = 8
	r := vectors[3].r
	for i := range 100 {
		h, err := Header(vcred, r, vts, fmt.Sprintf("n%03d", i))
		require.NoError(t, err)
		_, err = v.Verify(r, h)
		require.NoError(t, err)
	}
	require.LessOrEqual(t, len(v.seen), 8)
	require.Len(t, Nonce(), 6)
}

// TestVerifyCanonicalTS: the MAC covers ts as a number formatted again, so a ts
// written another way ("01700000000", "+1700000000") must be refused, or a captured
// header would pass the replay cache under a new key.
func TestVerifyCanonicalTS(t *testing.T) {
	r := vectors[3].r
	h, err := Header(vcred, r, vts, "c1")
	require.NoError(t, err)
	v := verifier(vts)
	_, err = v.Verify(r, h)
	require.NoError(t, err)
	for _, ts := range []string{"01700000000", "+1700000000", "-1700000000", "1700000000.0", " 1700000000"} {
		_, err := v.Verify(r, strings.Replace(h, `ts="1700000000"`, `ts="`+ts+`"`, 1))
		require.Error(t, err, ts)
		require.NotErrorIs(t, err, ErrReplay, ts)
	}
}

// TestVerifySkewDoesNotOverflow: ts − now wraps around for a ts far from the
// clock; such a ts is expired, never accepted.
func TestVerifySkewDoesNotOverflow(t *testing.T) {
	r := vectors[3].r
	for _, tc := range []struct{ ts, now int64 }{
		{9223372036854775807, -9223372036854775808},
		{0, -9223372036854775808 + 100},
		{9223372036854775807, 1700000000},
	} {
		h, err := Header(vcred, r, tc.ts, "o1")
		require.NoError(t, err)
		_, err = verifier(tc.now).Verify(r, h)
		require.ErrorIs(t, err, ErrExpired, "ts %d now %d", tc.ts, tc.now)
	}
}

// TestVerifyAllowReplay: with AllowReplay, as Alerta, the same header passes twice.
func TestVerifyAllowReplay(t *testing.T) {
	r := vectors[0].r
	h, err := Header(vcred, r, vts, vnon)
	require.NoError(t, err)
	v := verifier(vts)
	v.AllowReplay = true
	for range 2 {
		_, err = v.Verify(r, h)
		require.NoError(t, err)
	}
	require.Empty(t, v.seen)
}

// TestReplayCacheEntriesAreSmall: a full replay cache costs its entries' fixed size,
// whatever the nonces' length (a valid header may carry a nonce of almost MaxHeader
// bytes). The heap is measured after a GC, with a margin of many times.
func TestReplayCacheEntriesAreSmall(t *testing.T) {
	const entries = 2000
	v := verifier(vts)
	v.MaxNonces = entries
	r := vectors[3].r
	long := strings.Repeat("n", MaxHeader-200)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range entries {
		h, err := Header(vcred, r, vts, fmt.Sprintf("%s%05d", long, i))
		require.NoError(t, err)
		_, err = v.Verify(r, h)
		require.NoError(t, err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// The nonces alone are 2000 × ~3.9 KB ≈ 7.8 MB.
	require.Less(t, grown, int64(1<<20), "the cache of %d entries holds %d bytes", entries, grown)
	runtime.KeepAlive(v)
}

// TestRequestFor: the port comes from the URL or its scheme, the resource keeps the
// raw query, and a port out of range is an error.
func TestRequestFor(t *testing.T) {
	for _, tc := range []struct {
		url, host, resource string
		port                int
	}{
		{"http://HQ.example:8080/api/alert?x=a%2Fb", "HQ.example", "/api/alert?x=a%2Fb", 8080},
		{"http://hq.example/api/alert", "hq.example", "/api/alert", 80},
		{"https://hq.example/api/alert", "hq.example", "/api/alert", 443},
		{"http://[::1]:9/alert", "::1", "/alert", 9},
	} {
		u, err := url.Parse(tc.url)
		require.NoError(t, err)
		r, err := RequestFor("PUT", u, "application/json", []byte("{}"))
		require.NoError(t, err)
		require.Equal(t, Request{Method: "PUT", Host: tc.host, Port: tc.port, Resource: tc.resource,
			ContentType: "application/json", Body: []byte("{}")}, r, tc.url)
	}
	_, err := RequestFor("GET", &url.URL{Scheme: "http", Host: "h:99999999999999999999", Path: "/"}, "", nil)
	require.ErrorContains(t, err, `port "99999999999999999999"`)
}

// TestValidValue: the characters mohawk allows in an attribute value, and no others.
func TestValidValue(t *testing.T) {
	require.True(t, ValidValue(""))
	require.True(t, ValidValue("fed-1 a_b!#$%&'()*+,-./:;<=>?@[]^`{|}~"))
	for _, bad := range []string{`a"b`, `a\b`, "a\tb", "a\nb", "é"} {
		require.False(t, ValidValue(bad), "%q", bad)
	}
}
