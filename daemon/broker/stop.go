package broker

import (
	"fmt"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// StopMochi stops srv, whose listeners are listenerIDs, without the deadlock of
// its own Close (mochi-mqtt/server#488, open in v2.7.9): Server.Close lists each
// listener's clients with Clients.GetByListener, which takes the clients' read
// lock twice, so a client connecting or disconnecting at that moment (a Lock
// waiting between the two) stops the broker for good, and the process with it.
//
// StopMochi avoids that list. It closes each listener with an empty client
// closer (no new connections; Close will not list them again), disconnects the
// clients itself from Clients.GetAll (one read lock) until two rounds find none
// open, waits for their goroutines,
// and only then calls srv.Close, which has no client left to list. The whole stop
// waits at most wait; past that it returns an error and leaves the rest to the
// process's exit.
func StopMochi(srv *mochi.Server, listenerIDs []string, wait time.Duration) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, id := range listenerIDs {
			srv.Listeners.Close(id, func(string) {})
		}
		// A connection accepted just before its listener closed attaches a moment
		// later: disconnect until none is left open, then wait for the goroutines.
		for quiet := 0; quiet < 2; {
			open := 0
			for _, cl := range srv.Clients.GetAll() {
				if cl.Net.Conn == nil || cl.Closed() { // the inline client has no connection
					continue
				}
				open++
				_ = srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
			if open == 0 {
				quiet++
			} else {
				quiet = 0
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = srv.Close()
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("the mqtt broker did not stop within %s", wait)
	}
}
