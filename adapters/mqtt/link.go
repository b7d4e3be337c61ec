package mqtt

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/adapters/secret"
)

// link is how the source and the sink reach the broker: the parsed URL, the
// credentials, the TLS settings and the dialling. Both build one from their
// configuration; material, the TLS watch and dial work on it (tls.go).
type link struct {
	url            *url.URL // parsed broker URL
	username       string
	password       secret.Value
	passwordFile   string
	passwordEnv    string
	tls            TLSConfig
	connectTimeout time.Duration
	clk            clock.Clock
	health         adapters.Health
	log            *slog.Logger
}

// dial opens the network connection (and TLS) for paho. The connection is aborted
// when ctx ends, which unblocks a hanging handshake or read at once.
func (s *link) dial(ctx context.Context, tc *tls.Config) (*gracefulConn, error) {
	addr := brokerAddr(s.url)
	d := net.Dialer{Timeout: s.connectTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		tlsConn := tls.Client(c, tc)
		hctx, cancel := context.WithTimeout(ctx, s.connectTimeout)
		err := tlsConn.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		c = tlsConn
	}
	gc := newGracefulConn(c, s.clk, closeWait)
	context.AfterFunc(ctx, gc.abort)
	return gc, nil
}

// options returns the paho options the source's and the sink's clients share: the
// broker, the client id, MQTT 3.1.1, no reconnect of paho's own (the caller
// reconnects with a fresh client), the timeouts, the credentials of m, and the
// connection opened by dial, handed to opened once it is up.
func (s *link) options(rawURL, clientID string, keepAlive, writeTimeout time.Duration, m material,
	connCtx context.Context, opened func(*gracefulConn)) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker(rawURL).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(keepAlive).
		SetConnectTimeout(s.connectTimeout).
		SetWriteTimeout(writeTimeout).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			gc, err := s.dial(connCtx, m.tls)
			if err != nil {
				return nil, err
			}
			opened(gc)
			return gc, nil
		})
	if s.username != "" {
		o.SetUsername(s.username)
		o.SetPassword(m.password)
	}
	return o
}

// connFields are the connection settings the source and the sink share, for
// checkConnection.
type connFields struct {
	url          string
	username     string
	hasPassword  bool // password, password_file or password_env set
	passwordKeys string
	tls          TLSConfig
}

// checkConnection reports the problems of the shared connection settings through
// add, each naming its YAML key.
func checkConnection(c connFields, add func(format string, args ...any)) {
	rawURL, useTLS := c.url, false
	if rawURL == "" {
		rawURL = DefaultURL
	}
	if u, err := parseBrokerURL(rawURL); err != nil {
		add("url: %w", err)
	} else {
		useTLS = isTLSScheme(u.Scheme)
		if u.User != nil && (c.username != "" || c.hasPassword) {
			// paho logs in with the URL's credentials and ignores username and password.
			add("url: carries a user name and password, and so do username/%s: set the credentials one way", c.passwordKeys)
		}
	}
	if c.username == "" && c.hasPassword {
		add("username: required when a password is set (MQTT 3.1.1 §3.1.2.9)")
	}
	if c.tls.CertFile != "" && c.tls.KeyFile == "" {
		add("tls.key_file: required with tls.cert_file (the client certificate's private key)")
	}
	if c.tls.KeyFile != "" && c.tls.CertFile == "" {
		add("tls.cert_file: required with tls.key_file (the client certificate)")
	}
	if set := c.tls.setKeys(); len(set) > 0 && !useTLS {
		add("%s: set, but url %q does not use TLS (use ssl://, tls:// or mqtts://)", joinKeys(set), rawURL)
	}
	if c.tls.CAFile != "" && c.tls.InsecureSkipVerify {
		add("tls.ca_file: pointless with tls.insecure_skip_verify: true")
	}
	if c.tls.ReloadInterval < 0 {
		add("tls.reload_interval: %s is negative", c.tls.ReloadInterval)
	}
}
