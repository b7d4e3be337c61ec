package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"mime"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// The status page is static: HTML, CSS and a script embedded in the binary, no
// template runs (html/template would cost an armv6 binary about as much again) and
// nothing is fetched from elsewhere, so it works on a site without internet. The
// script reads /api/status/stream (or polls /api/status) and builds the page from it.
//
//go:embed ui
var uiFS embed.FS

// asset is one file of the page, with its gzip form and validator computed once.
type asset struct {
	typ  string
	raw  []byte
	gz   []byte
	etag string
}

var (
	assetsOnce sync.Once
	assets     map[string]*asset // by name under ui/
)

// loadAssets reads and compresses the page's files; it panics when the embedded tree
// is broken, which a test of this package would show first.
func loadAssets() map[string]*asset {
	assetsOnce.Do(func() {
		assets = map[string]*asset{}
		ents, err := uiFS.ReadDir("ui")
		if err != nil {
			panic(err)
		}
		for _, e := range ents {
			raw, err := uiFS.ReadFile("ui/" + e.Name())
			if err != nil {
				panic(err)
			}
			var gz bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
			_, _ = zw.Write(raw)
			_ = zw.Close()
			sum := sha256.Sum256(raw)
			typ := mime.TypeByExtension(path.Ext(e.Name()))
			if path.Ext(e.Name()) == ".js" {
				typ = "text/javascript; charset=utf-8" // the system's table may lack it
			}
			a := &asset{typ: typ, raw: raw, gz: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
			if len(a.gz) >= len(a.raw) {
				a.gz = nil // too small to gain: served as it is
			}
			assets[e.Name()] = a
		}
	})
	return assets
}

// PageWeight returns the bytes a first load of the status page transfers for its
// HTML, CSS and script (and icon): raw, and gzip-compressed as served to a browser
// that accepts it. cmd/edgerelay-bench reports it.
func PageWeight() (raw, gz int) {
	for _, a := range loadAssets() {
		raw += len(a.raw)
		if a.gz != nil {
			gz += len(a.gz)
		} else {
			gz += len(a.raw)
		}
	}
	return raw, gz
}

// pageCSP is the page's Content-Security-Policy: everything from this server only,
// no inline script or style, no framing, no form posts.
const pageCSP = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// loopbackHost reports whether hostport (a Host header) names this machine's
// loopback: an IP that is loopback, or localhost.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = strings.Trim(hostport, "[]") // no port
	}
	host = strings.ToLower(host)
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostAllowed refuses the page and its API when http.listen is on loopback and the
// request's Host header names something else: a web page whose own host name was
// made to resolve to 127.0.0.1 (DNS rebinding) would otherwise read the status
// through the operator's browser. Through an SSH tunnel the Host is still
// localhost or 127.0.0.1. On a wider listen address any Host is accepted.
func (s *Server) hostAllowed(w http.ResponseWriter, r *http.Request) bool {
	if !s.loopbackOnly || loopbackHost(r.Host) {
		return true
	}
	pageHeaders(w.Header())
	writeJSONError(w, http.StatusMisdirectedRequest, fmt.Sprintf("this daemon serves its status page on loopback; the Host %q is not a loopback name", r.Host))
	return false
}

// pageHeaders sets the headers every answer of the page and its API carries.
func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// serveAsset writes the named file of the page (gzip-compressed when the client
// takes it), or 404.
func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a := loadAssets()[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	pageHeaders(h)
	h.Set("Content-Type", a.typ)
	h.Set("Cache-Control", "no-cache") // revalidated: a new binary brings a new page
	h.Set("ETag", a.etag)
	if a.gz != nil {
		h.Set("Vary", "Accept-Encoding")
	}
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.raw
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func (s *Server) handleAsset(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(w, r) {
		return
	}
	name := r.PathValue("file")
	if name == "index.html" {
		http.NotFound(w, r) // the page itself is /
		return
	}
	serveAsset(w, r, name)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q := mediaQ(part)
		if name == "gzip" && q > 0 {
			return true
		}
	}
	return false
}

// wantsHTML reports whether the request's Accept header prefers text/html to
// text/plain: a browser's does ("text/html,…,*/*;q=0.8"), curl's and ilagent
// clients' ("*/*", or none) do not, so they keep getting "edgerelay/<version>".
func wantsHTML(r *http.Request) bool {
	html, plain := -1.0, -1.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		name, q := mediaQ(part)
		switch name {
		case "text/html", "application/xhtml+xml":
			html = max(html, q)
		case "text/plain":
			plain = max(plain, q)
		}
	}
	return html > 0 && html >= plain
}

// mediaQ splits one element of an Accept or Accept-Encoding list into its lower-case
// name and its q value (1 when absent, 0 when unreadable).
func mediaQ(part string) (string, float64) {
	name, params, _ := strings.Cut(part, ";")
	q := 1.0
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(k, "q") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				f = 0
			}
			q = f
		}
	}
	return strings.ToLower(strings.TrimSpace(name)), q
}
