package mqtt

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgerelay/edgerelay/adapters/clock"
)

// gracefulConn makes closing a connection wait until the broker has read everything
// sent before the close.
//
// paho closes the socket right after writing DISCONNECT. A broker that has not yet
// read the PUBACKs queued before it may then see a new connection with the same
// client id first: it takes the session over and drops the old socket with the
// acknowledgements unread (Mosquitto does), so it redelivers messages the relay
// already acknowledged. Close therefore half-closes the connection and waits, at
// most wait, for the broker to close its side (paho's reader sees the EOF) before
// releasing the socket. Until the session is up (setGraceful), Close is immediate:
// nobody reads the connection then.
type gracefulConn struct {
	net.Conn
	clk       clock.Clock // times the wait
	wait      time.Duration
	graceful  atomic.Bool   // set once the MQTT session is up; before, Close is immediate
	readErr   chan struct{} // closed when a Read fails (EOF included)
	errOnce   sync.Once
	closeOnce sync.Once
	closeErr  error
	closed    chan struct{} // closed when Close has finished
}

func newGracefulConn(c net.Conn, clk clock.Clock, wait time.Duration) *gracefulConn {
	return &gracefulConn{Conn: c, clk: clk, wait: wait, readErr: make(chan struct{}), closed: make(chan struct{})}
}

// Read reads from the connection and notes its first failure.
func (c *gracefulConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		c.errOnce.Do(func() { close(c.readErr) })
	}
	return n, err
}

// Close half-closes the connection, waits up to c.wait for the peer to close its
// side, then closes it. Concurrent and later calls wait for the first to finish.
func (c *gracefulConn) Close() error {
	c.closeOnce.Do(func() {
		defer close(c.closed)
		cw, ok := c.Conn.(interface{ CloseWrite() error })
		if ok && c.graceful.Load() && cw.CloseWrite() == nil {
			t := c.clk.NewTimer(c.wait)
			select {
			case <-c.readErr:
			case <-t.C():
			}
			t.Stop()
		}
		c.closeErr = c.Conn.Close()
	})
	<-c.closed
	return c.closeErr
}

// setGraceful makes Close wait for the peer from now on.
func (c *gracefulConn) setGraceful() { c.graceful.Store(true) }

// abort closes the connection at once, ending any blocked Read, Write or Close wait.
func (c *gracefulConn) abort() { _ = c.Conn.Close() }
