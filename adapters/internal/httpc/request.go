package httpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/edgerelay/edgerelay/adapters/secret"
)

// A sink sends the same method to the same URL with mostly the same header for every
// event. Send takes a request in that shape: a Target (method and URL, parsed once),
// a StaticHeader (the fields every request carries, checked, sorted and serialized
// once) and the few fields that vary per event. On the fast path it writes them
// without building an *http.Request or a header map; any other path gets a real
// *http.Request built from them.

// Field is one request header field: a canonical name and its value.
type Field struct{ Name, Value string }

// StaticHeader is the header fields every request of a sink carries.
type StaticHeader struct {
	fields  []Field // as given, later names replacing earlier ones, for http.Header
	ua      string  // the User-Agent value; Go's default when hasUA is false
	hasUA   bool
	names   []string // sorted, without User-Agent and the fields writeLight never writes
	lines   []string // "Name: value\r\n" of names[i]
	hasAuth bool     // an Authorization field: URL userinfo adds none
	plain   bool     // writeLight may write every field
}

// NewStaticHeader returns the header made of fields, whose names must be canonical
// (http.CanonicalHeaderKey); a later field replaces an earlier one of the same name.
func NewStaticHeader(fields ...Field) *StaticHeader {
	h := &StaticHeader{plain: true}
	for _, f := range fields {
		if i := slices.IndexFunc(h.fields, func(g Field) bool { return g.Name == f.Name }); i >= 0 {
			h.fields[i] = f
		} else {
			h.fields = append(h.fields, f)
		}
	}
	slices.SortFunc(h.fields, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range h.fields {
		if !plainField(f) {
			h.plain = false
		}
		switch f.Name {
		case "User-Agent":
			h.ua, h.hasUA = f.Value, true
			continue
		case "Authorization":
			h.hasAuth = true
		}
		if skipField(f.Name) {
			continue
		}
		h.names = append(h.names, f.Name)
		h.lines = append(h.lines, f.Name+": "+f.Value+"\r\n")
	}
	return h
}

// Target is a request's method and URL, parsed as http.NewRequest parses them.
type Target struct {
	method string
	raw    string   // the URL as given, for the slow path's *http.Request
	url    *url.URL // as http.NewRequest left it (an empty port removed)
	host   string   // the Host header
	uri    string   // the request target of the request line
	basic  string   // "Basic ..." from the URL's userinfo, or ""
	plain  bool     // writeLight may write the request line and Host
}

// NewTarget parses method and rawURL as http.NewRequest does and fails as it fails,
// except that its error never holds the URL ([secret.URLError]). The URL's userinfo
// is registered for redaction.
func NewTarget(method, rawURL string) (*Target, error) {
	secret.RegisterURL(rawURL)
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		return nil, secret.URLError(err)
	}
	t := &Target{method: req.Method, raw: rawURL, url: req.URL, host: req.Host, uri: req.URL.RequestURI()}
	if u := req.URL.User; u != nil {
		password, _ := u.Password()
		t.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+password))
	}
	t.plain = req.URL.Opaque == "" && t.host != "" && plainText(t.host, true) && !strings.ContainsAny(t.host, " \t")
	return t, nil
}

// Method returns the target's method.
func (t *Target) Method() string { return t.method }

// String returns "POST https://host/path", without the URL's userinfo, as errors
// name a request.
func (t *Target) String() string { return t.method + " " + t.redacted() }

func (t *Target) redacted() string { return RedactURL(t.url.String()) }

// Request is one request to send with Send.
type Request struct {
	Target *Target
	Header *StaticHeader // nil for none
	// Fields are the request's own header fields, after Header's: canonical names
	// not among Header's, each once. Send sorts them in place.
	Fields []Field
	Body   []byte
	// KeepHeader and KeepBody keep a 2xx answer's header (for Response.Get) and body;
	// any other answer keeps both. The fast path copies nothing it does not keep.
	KeepHeader, KeepBody bool
}

// Response is an answer to a Request.
type Response struct {
	StatusCode int
	Body       []byte // at most Send's limit bytes of the body, when kept
	raw        string // the fast path's header as read (status line first), when kept
	header     http.Header
}

// Get returns the first value of the answer's header field name (any case), as
// http.Header.Get does, or "" when the header was not kept.
func (r *Response) Get(name string) string {
	if r.header != nil {
		return r.header.Get(name)
	}
	return rawGet(r.raw, name)
}

// Send sends r with c as Do sends an *http.Request, with the same classification,
// bounds and errors; the wire form is the one http.Request.Write gives the equivalent
// *http.Request. The fast path builds no *http.Request.
func Send(ctx context.Context, c *http.Client, r *Request, limit int64) (Response, error) {
	if tr, ours := c.Transport.(*transport); ours && c.Jar == nil && r.light() {
		if h := tr.fast.route(r.Target.url); h != nil {
			return tr.fast.sendFast(ctx, c, h, r, limit)
		}
	}
	return r.sendStd(ctx, c, limit, Do)
}

// sendStd sends r as an *http.Request through do (Do or slowDo).
func (r *Request) sendStd(ctx context.Context, c *http.Client, limit int64,
	do func(*http.Client, *http.Request, int64) (*http.Response, []byte, error)) (Response, error) {
	req, err := r.httpRequest(ctx)
	if err != nil {
		return Response{}, err
	}
	resp, body, err := do(c, req, limit)
	if resp == nil {
		return Response{}, err
	}
	return Response{StatusCode: resp.StatusCode, Body: body, header: resp.Header}, err
}

// httpRequest returns r as an *http.Request, its header a map of Header and Fields.
func (r *Request) httpRequest(ctx context.Context) (*http.Request, error) {
	// A copy of the body: the request keeps its reader, and a reader of r.Body would
	// make escape analysis move the caller's Fields to the heap (see writeLight).
	req, err := http.NewRequestWithContext(ctx, r.Target.method, r.Target.raw, bytes.NewReader(bytes.Clone(r.Body)))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.HTTPHeader(r.Fields...)
	return req, nil
}

// HTTPHeader returns h's fields and then extra as an http.Header, for a request
// built with net/http (the slow path, calls that do not use Send). h may be nil.
func (h *StaticHeader) HTTPHeader(extra ...Field) http.Header {
	n := len(extra)
	if h != nil {
		n += len(h.fields)
	}
	b := NewHeader(n)
	if h != nil {
		for _, f := range h.fields {
			b.Set(f.Name, f.Value)
		}
	}
	for _, f := range extra {
		b.Set(f.Name, f.Value)
	}
	return b.Header()
}

// light reports whether writeLight may write r.
func (r *Request) light() bool {
	if !r.Target.plain || (r.Header != nil && !r.Header.plain) {
		return false
	}
	for _, f := range r.Fields {
		if !plainField(f) || f.Name == "User-Agent" || skipField(f.Name) {
			return false
		}
	}
	return true
}

// plainField reports whether writeRequest would write f itself.
func plainField(f Field) bool {
	return f.Name != "" && plainText(f.Name, false) && plainText(f.Value, true)
}

// skipField reports the fields http.Request.Write leaves out of the header it writes.
func skipField(name string) bool {
	switch name {
	case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// sendFast is Send on the fast path for host h.
func (p *pool) sendFast(ctx context.Context, c *http.Client, h *host, r *Request, limit int64) (Response, error) {
	sortFields(r.Fields)
	deadline := exchangeDeadline(ctx, c)
	a, body, rerr, err := p.exchange(ctx, h, nil, r, deadline, limit)
	t := r.Target
	if err != nil {
		if errH2Only(err) {
			p.mu.Lock()
			h.slow = true
			p.mu.Unlock()
			return r.sendStd(ctx, c, limit, slowDo)
		}
		return Response{}, ClassifyTransport(&url.Error{Op: opName(t.method), URL: t.redacted(), Err: ctxCause(ctx, err)})
	}
	resp := Response{StatusCode: a.code, Body: body, raw: a.raw}
	if a.resp != nil {
		resp.header = a.resp.Header
	}
	if a.code < 200 || a.code > 299 {
		h := resp // on the heap (classify takes an interface) only for a failure
		if cerr := classify(a.code, &h, body); cerr != nil {
			return resp, fmt.Errorf("%s %s: %w", t.method, t.redacted(), cerr)
		}
	}
	if rerr != nil {
		return resp, fmt.Errorf("%s %s: read answer: %w", t.method, t.redacted(), ClassifyTransport(ctxCause(ctx, rerr)))
	}
	return resp, nil
}

// sortFields sorts a request's few fields by name, by insertion.
func sortFields(fs []Field) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Name < fs[j-1].Name; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// writeLight writes r as http.Request.Write writes the equivalent *http.Request: the
// request line, Host, User-Agent, Content-Length, then the header fields sorted by
// name. r.Fields must be sorted.
func writeLight(w *bufio.Writer, r *Request) error {
	t, sh := r.Target, r.Header
	if sh == nil {
		sh = &noHeader
	}
	w.WriteString(t.method)
	w.WriteByte(' ')
	w.WriteString(t.uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(t.host)
	w.WriteString("\r\n")
	switch {
	case !sh.hasUA:
		w.WriteString("User-Agent: Go-http-client/1.1\r\n")
	case sh.ua != "":
		w.WriteString("User-Agent: ")
		w.WriteString(sh.ua)
		w.WriteString("\r\n")
	}
	m := t.method
	if len(r.Body) > 0 || m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch {
		w.WriteString("Content-Length: ")
		w.Write(appendInt(w.AvailableBuffer(), int64(len(r.Body))))
		w.WriteString("\r\n")
	}
	basic := t.basic
	if sh.hasAuth {
		basic = ""
	}
	fs := r.Fields
	for i := 0; i < len(sh.names) || len(fs) > 0 || basic != ""; {
		// The next field in name order among the static ones, the request's own and
		// the basic auth from the URL (which a field of the request replaces).
		switch {
		case basic != "" && (i == len(sh.names) || sh.names[i] > "Authorization") && (len(fs) == 0 || fs[0].Name >= "Authorization"):
			if len(fs) == 0 || fs[0].Name != "Authorization" {
				w.WriteString("Authorization: ")
				w.WriteString(basic)
				w.WriteString("\r\n")
			}
			basic = ""
		case len(fs) > 0 && (i == len(sh.names) || fs[0].Name < sh.names[i]):
			w.WriteString(fs[0].Name)
			w.WriteString(": ")
			w.WriteString(fs[0].Value)
			w.WriteString("\r\n")
			fs = fs[1:]
		default:
			w.WriteString(sh.lines[i])
			i++
		}
	}
	_, err := w.WriteString("\r\n")
	for b := r.Body; len(b) > 0 && err == nil; {
		// Copied into w's buffer rather than given to w.Write, which may hand it to
		// the connection: escape analysis would then move the caller's Fields (any
		// of a Request's pointers, it does not tell them apart) to the heap.
		if w.Available() == 0 {
			if err = w.Flush(); err != nil {
				break
			}
		}
		buf := w.AvailableBuffer()
		n := min(len(b), cap(buf))
		_, err = w.Write(append(buf, b[:n]...))
		b = b[n:]
	}
	return err
}

var noHeader StaticHeader

// Dump returns r as it goes on the wire (http.Request.Write's form), for a sink's
// preview of what it would send.
func (r *Request) Dump() ([]byte, error) {
	req, err := r.httpRequest(context.Background())
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
