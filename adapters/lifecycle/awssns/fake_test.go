package awssns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// fakeKey is a key pair the fake SNS knows.
type fakeKey struct {
	secret, token string
	// denied makes GetTopicAttributes answer AuthorizationError (a Publish-only
	// policy).
	denied bool
}

// fakeSNS plays the SNS Query API: it verifies every request's SigV4 signature by
// signing it again with the AWS SDK's signer (an implementation independent of
// the adapter's), checks the form strictly and hands each published message to
// the current subscribers.
type fakeSNS struct {
	t      testing.TB
	srv    *httptest.Server
	region string
	now    func() time.Time

	mu       sync.Mutex // guards the fields below
	keys     map[string]fakeKey
	topics   map[string]bool
	subs     []chan lifecycletest.Received
	requests int
	lastAuth string
	seenKeys []string
}

const fakeAccount = "123456789012"

func fakePrefix(region string) string { return "arn:aws:sns:" + region + ":" + fakeAccount + ":" }

// newFakeSNS starts a fake SNS for region with the four domain topics; l may be
// nil (a new loopback listener).
func newFakeSNS(t testing.TB, region string, l net.Listener) *fakeSNS {
	f := &fakeSNS{t: t, region: region, now: time.Now, keys: map[string]fakeKey{}, topics: map[string]bool{}}
	for _, tp := range []string{"edge-nodes-events", "edge-commands-events", "edge-self-updates-events", "edge-ssh-events"} {
		f.topics[fakePrefix(region)+tp] = true
	}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	if l != nil {
		_ = f.srv.Listener.Close()
		f.srv.Listener = l
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSNS) addKey(id string, k fakeKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[id] = k
}

func (f *fakeSNS) subscribe() <-chan lifecycletest.Received {
	ch := make(chan lifecycletest.Received, 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, ch)
	return ch
}

func (f *fakeSNS) keysSeen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seenKeys...)
}

type snsErr struct {
	status  int
	code    string
	message string
}

func (f *fakeSNS) fail(w http.ResponseWriter, e snsErr) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-%d</RequestId></ErrorResponse>`,
		typ, e.code, html.EscapeString(e.message), time.Now().UnixNano())
}

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

// verify checks the signature; it returns the key id or an error answer.
func (f *fakeSNS) verify(r *http.Request, body []byte) (string, fakeKey, *snsErr) {
	auth := r.Header.Get("Authorization")
	m := authRE.FindStringSubmatch(auth)
	if m == nil {
		return "", fakeKey{}, &snsErr{400, "IncompleteSignature", "malformed Authorization header"}
	}
	id, day, region, service, signed := m[1], m[2], m[3], m[4], m[5]
	if region != f.region || service != "sns" {
		return "", fakeKey{}, &snsErr{403, "SignatureDoesNotMatch", "Credential should be scoped to a valid region and to service sns, not " + region + "/" + service}
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || at.Format("20060102") != day {
		return "", fakeKey{}, &snsErr{400, "IncompleteSignature", "X-Amz-Date missing or not the credential's day"}
	}
	if d := f.now().Sub(at); d > 5*time.Minute || d < -5*time.Minute {
		return "", fakeKey{}, &snsErr{403, "RequestExpired", "Signature expired: " + at.String()}
	}
	f.mu.Lock()
	k, ok := f.keys[id]
	f.mu.Unlock()
	if !ok || r.Header.Get("X-Amz-Security-Token") != k.token {
		return "", fakeKey{}, &snsErr{403, "InvalidClientTokenId", "The security token included in the request is invalid."}
	}
	for _, need := range []string{"host", "x-amz-date", "content-type"} {
		if !strings.Contains(";"+signed+";", ";"+need+";") {
			return "", fakeKey{}, &snsErr{403, "SignatureDoesNotMatch", need + " is not signed"}
		}
	}
	// Sign a copy that has only the headers the request says it signed, with
	// the SDK's signer, and compare.
	cp, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	for _, h := range strings.Split(signed, ";") {
		switch h {
		case "host", "x-amz-date", "x-amz-security-token":
		default:
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: id, SecretAccessKey: k.secret, SessionToken: k.token},
		cp, hex.EncodeToString(sum[:]), "sns", f.region, at)
	if err != nil || cp.Header.Get("Authorization") != auth {
		return "", fakeKey{}, &snsErr{403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}
	}
	return id, k, nil
}

func (f *fakeSNS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests++
	f.lastAuth = r.Header.Get("Authorization")
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		f.fail(w, snsErr{405, "InvalidAction", "POST / only"})
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		f.fail(w, snsErr{400, "InvalidParameter", "content type " + ct})
		return
	}
	id, k, e := f.verify(r, body)
	if e != nil {
		f.fail(w, *e)
		return
	}
	f.mu.Lock()
	f.seenKeys = append(f.seenKeys, id)
	f.mu.Unlock()
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f.fail(w, snsErr{400, "MalformedQueryString", err.Error()})
		return
	}
	if form.Get("Version") != "2010-03-31" {
		f.fail(w, snsErr{400, "InvalidParameter", "Version " + form.Get("Version")})
		return
	}
	arn := form.Get("TopicArn")
	f.mu.Lock()
	exists := f.topics[arn]
	f.mu.Unlock()
	switch form.Get("Action") {
	case "GetTopicAttributes":
		if len(form) != 3 {
			f.fail(w, snsErr{400, "InvalidParameter", "unexpected parameters"})
			return
		}
		if k.denied {
			f.fail(w, snsErr{403, "AuthorizationError", "User: arn:aws:iam::" + fakeAccount + ":user/edge is not authorized to perform: SNS:GetTopicAttributes on resource: " + arn})
			return
		}
		if !exists {
			f.fail(w, snsErr{404, "NotFound", "Topic does not exist"})
			return
		}
		fmt.Fprintf(w, `<GetTopicAttributesResponse><GetTopicAttributesResult><Attributes><entry><key>TopicArn</key><value>%s</value></entry></Attributes></GetTopicAttributesResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetTopicAttributesResponse>`, html.EscapeString(arn))
	case "Publish":
		if !exists {
			f.fail(w, snsErr{404, "NotFound", "Topic does not exist"})
			return
		}
		msg := form.Get("Message")
		if msg == "" {
			f.fail(w, snsErr{400, "InvalidParameter", "Empty message"})
			return
		}
		attrs, e := parseAttributes(form)
		if e != nil {
			f.fail(w, *e)
			return
		}
		rec := lifecycletest.Received{Where: arn, Body: []byte(msg), Attrs: attrs}
		f.mu.Lock()
		for _, s := range f.subs {
			select {
			case s <- rec:
			default:
			}
		}
		f.mu.Unlock()
		fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>%d</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>`, time.Now().UnixNano())
	default:
		f.fail(w, snsErr{400, "InvalidAction", "unknown action " + form.Get("Action")})
	}
}

// parseAttributes reads MessageAttributes.entry.N.{Name,Value.DataType,
// Value.StringValue} strictly: N from 1 without gaps, String values only, no other
// parameter.
func parseAttributes(form url.Values) (map[string]string, *snsErr) {
	attrs := map[string]string{}
	known := map[string]bool{"Action": true, "Version": true, "TopicArn": true, "Message": true}
	for n := 1; ; n++ {
		p := "MessageAttributes.entry." + strconv.Itoa(n) + "."
		name := form.Get(p + "Name")
		if name == "" {
			break
		}
		if form.Get(p+"Value.DataType") != "String" {
			return nil, &snsErr{400, "ParameterValueInvalid", "attribute " + name + ": DataType must be String"}
		}
		v := form.Get(p + "Value.StringValue")
		if v == "" {
			return nil, &snsErr{400, "ParameterValueInvalid", "attribute " + name + " has no value"}
		}
		attrs[name] = v
		for _, s := range []string{"Name", "Value.DataType", "Value.StringValue"} {
			known[p+s] = true
		}
	}
	for k := range form {
		if !known[k] {
			return nil, &snsErr{400, "InvalidParameter", "unexpected parameter " + k}
		}
	}
	return attrs, nil
}
