package broker

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// allowAllHook lets every client in.
type allowAllHook struct{ mochi.HookBase }

func (*allowAllHook) ID() string { return "allow-all" }
func (*allowAllHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}
func (*allowAllHook) OnConnectAuthenticate(*mochi.Client, packets.Packet) bool { return true }
func (*allowAllHook) OnACLCheck(*mochi.Client, string, bool) bool              { return true }

// rawConnect opens a TCP connection to addr and sends an MQTT 3.1.1 CONNECT
// (clean session, client id id); it waits for the CONNACK when ack is set.
func rawConnect(addr, id string, ack bool) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, byte(len(id))}
	pk := append([]byte{0x10, byte(len(vh) + len(id))}, vh...)
	pk = append(pk, id...)
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(pk); err != nil {
		_ = c.Close()
		return nil, err
	}
	if ack {
		var b [4]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

// TestStopMochiWhileClientsChurn: clients connect and disconnect as fast as they
// can while the broker stops, the moment Mochi's own Close can deadlock in
// (mochi-mqtt/server#488). StopMochi returns without error every time, with
// clients still connected when it starts, and the port is released.
func TestStopMochiWhileClientsChurn(t *testing.T) {
	for round := range 20 {
		srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, srv.AddHook(new(allowAllHook), nil))
		tcp := listeners.NewTCP(listeners.Config{ID: "churn", Address: "127.0.0.1:0"})
		require.NoError(t, srv.AddListener(tcp))
		require.NoError(t, srv.Serve())
		addr := tcp.Address()

		// A few clients that stay, so the stop has connections to close.
		for i := range 4 {
			c, err := rawConnect(addr, fmt.Sprintf("stay-%d-%d", round, i), true)
			require.NoError(t, err)
			defer c.Close()
		}
		var stop atomic.Bool
		var connects atomic.Int64
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; !stop.Load(); n++ {
					c, err := rawConnect(addr, fmt.Sprintf("churn-%d-%d-%d", round, w, n), n%2 == 0)
					if err != nil {
						continue // refused once the listener is closed
					}
					connects.Add(1)
					_ = c.Close()
				}
			}()
		}
		require.Eventually(t, func() bool { return connects.Load() >= 20 }, 30*time.Second, time.Millisecond)
		err := StopMochi(srv, []string{"churn"}, 30*time.Second)
		stop.Store(true)
		wg.Wait()
		require.NoError(t, err, "round %d", round)
		_, err = net.DialTimeout("tcp", addr, time.Second)
		require.Error(t, err, "round %d: the port is still open after the stop", round)
	}
}
