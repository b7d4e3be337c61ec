package awssns

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Credentials are what a request is signed with.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Expires is when temporary credentials stop working; zero for static ones.
	Expires time.Time
	// Source names the link of the chain they came from ("environment",
	// "shared credentials file", "instance metadata" …), for errors and logs.
	Source string
}

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDateFmt   = "20060102T150405Z"
)

// signV4 signs req for service and region at t with AWS Signature Version 4: it
// sets X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization.
// The signed headers are Host, Content-Type when present and every X-Amz-* header;
// body is the whole payload (nil for none).
func signV4(req *http.Request, body []byte, c Credentials, service, region string, t time.Time) {
	t = t.UTC()
	amzDate := t.Format(amzDateFmt)
	day := amzDate[:8]
	req.Header.Set("X-Amz-Date", amzDate)
	if c.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.SessionToken)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	names := []string{"host"}
	values := map[string]string{"host": host}
	for k, vs := range req.Header {
		lk := strings.ToLower(k)
		if lk != "content-type" && !strings.HasPrefix(lk, "x-amz-") {
			continue
		}
		names = append(names, lk)
		trimmed := make([]string, len(vs))
		for i, v := range vs {
			trimmed[i] = strings.Join(strings.Fields(v), " ")
		}
		values[lk] = strings.Join(trimmed, ",")
	}
	sort.Strings(names)
	var ch strings.Builder
	for _, n := range names {
		ch.WriteString(n + ":" + values[n] + "\n")
	}
	signed := strings.Join(names, ";")
	sum := sha256.Sum256(body)
	canonical := strings.Join([]string{
		req.Method,
		canonicalURI(req.URL),
		canonicalQuery(req.URL.Query()),
		ch.String(),
		signed,
		hex.EncodeToString(sum[:]),
	}, "\n")
	scope := day + "/" + region + "/" + service + "/aws4_request"
	crSum := sha256.Sum256([]byte(canonical))
	toSign := sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crSum[:])
	sig := hex.EncodeToString(hmacSHA256(signingKey(c.SecretAccessKey, day, region, service), toSign))
	req.Header.Set("Authorization", sigAlgorithm+" Credential="+c.AccessKeyID+"/"+scope+
		", SignedHeaders="+signed+", Signature="+sig)
}

// signingKey derives the day's key for region and service.
func signingKey(secretKey, day, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secretKey), day)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// canonicalURI is the URI-encoded path, encoded once more as services other than
// S3 expect ("/" when empty).
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = uriEncode(s)
	}
	return strings.Join(segs, "/")
}

// canonicalQuery sorts the parameters by name, then value, each URI-encoded.
func canonicalQuery(q url.Values) string {
	type kv struct{ k, v string }
	var ps []kv
	for k, vs := range q {
		for _, v := range vs {
			ps = append(ps, kv{uriEncode(k), uriEncode(v)})
		}
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].k != ps[j].k {
			return ps[i].k < ps[j].k
		}
		return ps[i].v < ps[j].v
	})
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.k + "=" + p.v
	}
	return strings.Join(out, "&")
}

// uriEncode percent-encodes every byte but the unreserved characters of RFC 3986
// (A–Z a–z 0–9 - . _ ~), with upper-case hex.
func uriEncode(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}
