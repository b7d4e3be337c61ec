package secret

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestRedactForms(t *testing.T) {
	var s Set
	const pw = `pa55/wörd+"<x>"&Z9`
	const tok = "tok3nAbCdEfGhIjKlMnOp"
	s.AddUserPassword("alice", pw)
	s.Add(tok)
	jsonOf := func(v string) string { b, _ := json.Marshal(v); return string(b) }

	tests := []struct {
		name, in string
		gone     []string // must not survive
		keep     string   // must survive (may be empty)
	}{
		{"value", "password is " + pw + " ok", []string{pw}, "password is "},
		{"user:password", "creds alice:" + pw, []string{pw}, "creds "},
		{"basic auth", "Authorization: Basic " + b64("alice:"+pw), []string{b64("alice:" + pw)}, "Authorization: Basic "},
		{"basic of :password", "x " + b64(":"+pw), []string{b64(":" + pw)[4:12]}, "x "},
		{"basic with unknown user", "Basic " + b64("mallory:"+pw), []string{b64("mallory:" + pw)[12:24]}, "Basic "},
		{"basic with unknown user 2", "Basic " + b64("bo:"+tok), []string{b64("bo:" + tok)[8:20]}, "Basic "},
		{"basic with unknown user 3", "Basic " + b64("bob:"+tok), []string{b64("bob:" + tok)[8:20]}, "Basic "},
		{"url userinfo", "GET " + (&url.URL{Scheme: "https", User: url.UserPassword("alice", pw), Host: "h", Path: "/p"}).String(), []string{url.QueryEscape(pw), url.PathEscape(pw), pw}, "https://"},
		{"query escaped", "?key=" + url.QueryEscape(pw), []string{url.QueryEscape(pw)}, "?key="},
		{"path escaped", "/k/" + url.PathEscape(pw) + "/x", []string{url.PathEscape(pw)}, "/x"},
		{"json", `{"auth":` + jsonOf(pw) + `}`, []string{jsonOf(pw)[1 : len(jsonOf(pw))-1]}, `{"auth":`},
		{"go quoted", fmt.Sprintf("bad %q", pw), []string{fmt.Sprintf("%q", pw)}, "bad "},
		{"base64 of token", "x " + b64(tok), []string{b64(tok)}, "x "},
		{"base64 url of token", "x " + base64.RawURLEncoding.EncodeToString([]byte(tok)), []string{base64.RawURLEncoding.EncodeToString([]byte(tok))}, "x "},
		{"cut prefix at end", "answer: Bearer " + tok[:9], []string{tok[:9]}, "answer: Bearer "},
		{"cut prefix before ellipsis", "answer: " + tok[:10] + "… (attempt 3)", []string{tok[:10]}, "… (attempt 3)"},
		{"cut prefix before dots", "answer: " + tok[:12] + "...", []string{tok[:12]}, "..."},
		{"cut suffix at start", tok[5:] + " was echoed", []string{tok[5:]}, " was echoed"},
		{"cut suffix after ellipsis", "…" + tok[len(tok)-8:] + "\"}", []string{tok[len(tok)-8:]}, "\"}"},
		{"short prefix kept", "ends with " + tok[:5], nil, tok[:5]},
		{"prefix mid-text kept", tok[:9] + "-but-then-other-text", nil, "-but-then-other-text"},
		{"nothing", "an ordinary line", nil, "an ordinary line"},
		{"two in one", tok + " and " + pw, []string{tok, pw}, " and "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Redact(tt.in)
			for _, g := range tt.gone {
				require.NotContains(t, got, g)
			}
			require.Contains(t, got, tt.keep)
			if tt.gone != nil {
				require.Contains(t, got, Redacted)
			} else {
				require.Equal(t, tt.in, got)
			}
		})
	}
}

func TestRedactShortAndEmpty(t *testing.T) {
	var s Set
	require.Equal(t, "abc", s.Redact("abc"), "an empty set changes nothing")
	s.Add("", "ab", "on")
	require.Equal(t, 0, s.Len(), "values under MinLen are not registered")
	require.Equal(t, "on and on", s.Redact("on and on"))
	s.Add("  spaced-secret\n")
	require.Equal(t, "x *** y", s.Redact("x spaced-secret y"), "the trimmed form is known too")
}

func TestMaxValues(t *testing.T) {
	var s Set
	for i := range MaxValues + 10 {
		s.Add(fmt.Sprintf("value-%04d", i))
	}
	require.Equal(t, MaxValues, s.Len())
	require.Equal(t, "***", s.Redact(fmt.Sprintf("value-%04d", MaxValues+9)))
	require.Equal(t, "***", s.Redact("value-0000"), "the first values registered are kept")
	require.Equal(t, fmt.Sprintf("value-%04d", MaxPinned), s.Redact(fmt.Sprintf("value-%04d", MaxPinned)),
		"the least recent of the others went first")
}

// TestRotationKeepsConfigSecrets: a password file rotated many times (each read
// registers the new password) never pushes out the configuration's secrets, nor the
// password in use.
func TestRotationKeepsConfigSecrets(t *testing.T) {
	var s Set
	s.Add("il1-api-key-kept-for-ever")
	s.AddUserPassword("relay", "pw-current-0000")
	for i := range MaxValues {
		s.AddUserPassword("relay", fmt.Sprintf("pw-rotated-%04d", i))
		s.AddUserPassword("relay", "pw-current-0000") // read again before each connect
	}
	require.LessOrEqual(t, s.Len(), MaxValues)
	require.Equal(t, "Bearer ***", s.Redact("Bearer il1-api-key-kept-for-ever"))
	require.Equal(t, "***", s.Redact("pw-current-0000"))
	require.Equal(t, "***", s.Redact(fmt.Sprintf("pw-rotated-%04d", MaxValues-1)))
}

func TestCutRedactsFirst(t *testing.T) {
	t.Cleanup(Default.Reset)
	Register("Zq8uXv3TkLm9Rw2Y")
	text := strings.Repeat("a", 20) + "Zq8uXv3TkLm9Rw2Y tail"
	for n := 0; n < len(text)+2; n++ {
		for _, got := range []string{Cut(text, n), Excerpt(text, n)} {
			require.LessOrEqual(t, len(got), max(n, len(Ellipsis)))
			require.NotContains(t, got, "Zq8u", "n=%d", n)
		}
	}
	require.Equal(t, "aaaa…", Excerpt("aaaaaaaa", 7))
	require.Equal(t, "aaaaaa", Excerpt("aaaaaa", 7))
}

func TestValue(t *testing.T) {
	t.Cleanup(Default.Reset)
	s := Value("hunter22")
	for _, got := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v %s %q %#v %+v", s, s, s, s, s)} {
		require.NotContains(t, got, "hunter22")
	}
	type cfg struct {
		Token Value `yaml:"token" json:"token"`
	}
	var c cfg
	require.NoError(t, yaml.Unmarshal([]byte("token: decoded-from-yaml\n"), &c))
	require.Equal(t, "decoded-from-yaml", c.Token.Reveal())
	require.Equal(t, "x ***", Redact("x decoded-from-yaml"), "decoding registers the value")
	require.NoError(t, json.Unmarshal([]byte(`{"token":"decoded-from-json"}`), &c))
	require.Equal(t, "***", Redact("decoded-from-json"))
	y, err := yaml.Marshal(c)
	require.NoError(t, err)
	require.Equal(t, "token: '***'\n", string(y))
}

func TestResolveRegisters(t *testing.T) {
	t.Cleanup(Default.Reset)
	dir := t.TempDir()
	f := filepath.Join(dir, "tok")
	require.NoError(t, os.WriteFile(f, []byte("from-a-file\n"), 0o600))
	t.Setenv("SECRET_TEST_ENV", "from-the-env")
	for _, c := range [][3]string{{"literal-val", "", ""}, {"", f, ""}, {"", "", "SECRET_TEST_ENV"}} {
		v, err := Resolve(c[0], c[1], c[2])
		require.NoError(t, err)
		require.Equal(t, Redacted, Redact(v.Reveal()))
	}
	_, err := Resolve("a", f, "")
	require.Error(t, err)
	pf := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pf, []byte("password-file-value\r\n"), 0o600))
	v, err := ReadFile(pf)
	require.NoError(t, err)
	require.Equal(t, "password-file-value", v)
	require.Equal(t, Redacted, Redact(v))
}

func TestParseURL(t *testing.T) {
	t.Cleanup(Default.Reset)
	_, err := ParseURL("https://bob:url-pass-1234@host/%zz")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "url-pass-1234")
	require.Contains(t, err.Error(), "invalid URL")
	require.Equal(t, "***", Redact("url-pass-1234"), "a refused URL's password is registered all the same")

	u, err := ParseURL("https://carol:c%40rol-pass@host/")
	require.NoError(t, err)
	require.Equal(t, "host", u.Host)
	require.Equal(t, "x ***", Redact("x c@rol-pass"))
	require.Equal(t, "x ***", Redact("x c%40rol-pass"))
	require.Equal(t, "https://host/", RedactURL("https://carol:c%40rol-pass@host/"))
	require.Equal(t, "<unparsable url>", RedactURL("https://a:b@h/%zz"))

	_, err = ParseURL("http://[::1:80/x?tok=0p3n-sesame-77")
	require.Error(t, err)
	var ue *url.Error
	require.False(t, errors.As(err, &ue), "no *url.Error left to print the URL")
}

func TestScrub(t *testing.T) {
	t.Cleanup(Default.Reset)
	Register("registered-one")
	base := errors.New("x registered-one y extra-value")
	err := Scrub(fmt.Errorf("wrap: %w", base), "extra-value")
	require.Equal(t, "wrap: x *** y ***", err.Error())
	require.ErrorIs(t, err, base)
	require.Nil(t, Scrub(nil))
	plain := errors.New("clean")
	require.Same(t, plain, Scrub(plain))
}

type stringer struct{}

func (stringer) String() string { return "stringer-secret-99" }

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue("valuer-secret-99") }

func TestHandler(t *testing.T) {
	t.Cleanup(Default.Reset)
	for _, v := range []string{"msg-secret-99", "attr-secret-99", "err-secret-99", "group-secret-99", "bound-secret-99", "stringer-secret-99", "valuer-secret-99", "any-secret-99"} {
		Register(v)
	}
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, nil)
		if format == "json" {
			h = slog.NewJSONHandler(&buf, nil)
		}
		log := slog.New(Handler(h)).With("bound", "bound-secret-99")
		log.WithGroup("g").Info("hello msg-secret-99",
			"a", "attr-secret-99",
			"err", errors.New("failed: err-secret-99"),
			slog.Group("grp", "x", "group-secret-99"),
			"s", stringer{}, "v", valuer{},
			"any", []string{"any-secret-99"},
			"n", 42)
		out := buf.String()
		require.NotContains(t, out, "secret-99", format)
		require.Contains(t, out, "hello", format)
		require.Contains(t, out, "42", format)
	}
}

func TestWriter(t *testing.T) {
	t.Cleanup(Default.Reset)
	Register("writer-secret-77")
	var buf bytes.Buffer
	w := Writer(&buf)
	for _, p := range []string{"one writer-sec", "ret-77 two\nthree writer-", "secret-77"} {
		_, err := w.Write([]byte(p))
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	require.Equal(t, "one *** two\nthree ***", buf.String())
}

// BenchmarkRedact is a 300-byte log line with six ellipses (14 places a cut piece
// may be) against 20 registered user:password pairs, with one secret in it and
// without.
func BenchmarkRedact(b *testing.B) {
	var s Set
	for i := range 20 {
		s.AddUserPassword(fmt.Sprintf("user%d", i), fmt.Sprintf("%x", sha256.Sum256([]byte{byte(i)}))[:20])
	}
	clean := strings.Repeat("POST http://127.0.0.1:8080/api/v1/events: status 503… ", 6)[:300]
	dirty := clean[:200] + fmt.Sprintf("%x", sha256.Sum256([]byte{7}))[:20] + clean[220:]
	for _, c := range []struct{ name, text string }{{"clean", clean}, {"one secret", dirty}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				_ = s.Redact(c.text)
			}
		})
	}
}

// TestReadBounded: a file over the limit is refused without reading it whole, and the
// error names the file, not its content.
func TestReadBounded(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	require.NoError(t, os.WriteFile(small, []byte("tok-1234\n"), 0o600))
	b, err := ReadBounded(small, 16)
	require.NoError(t, err)
	require.Equal(t, "tok-1234\n", string(b))

	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, bytes.Repeat([]byte("s3cr3t-"), 10), 0o600))
	_, err = ReadBounded(big, 16)
	require.ErrorContains(t, err, big+": larger than 16 bytes")
	require.NotContains(t, err.Error(), "s3cr3t")

	if _, err := os.Stat("/dev/zero"); err == nil {
		_, err = ReadBounded("/dev/zero", MaxSecretFile)
		require.ErrorContains(t, err, "larger than")
	}
	_, err = ReadBounded(filepath.Join(dir, "missing"), 16)
	require.ErrorIs(t, err, os.ErrNotExist)
}
