package nats

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nuid"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

func TestBrokerDownAtStart(t *testing.T) {
	url := needMachineNATS(t)
	for _, js := range []bool{false, true} {
		t.Run(fmt.Sprintf("jetstream=%v", js), func(t *testing.T) {
			px := lifecycletest.NewProxy(t, machineAddr)
			px.Down()
			ch := subscribe(t, url)
			p := newPublisher(t, &Config{URLs: []string{"nats://" + px.Addr}, JetStream: js})
			err := p.Connect(t.Context())
			require.Error(t, err)
			require.Contains(t, err.Error(), px.Addr, "the error names the server")
			require.ErrorIs(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "x", "c")), ErrNotConnected)

			px.Up()
			require.NoError(t, p.Connect(t.Context()), "a later Connect works")
			m := lifecycletest.Message("edge.node.started", "down-"+nuid.Next(), "c")
			require.NoError(t, p.Publish(t.Context(), m))
			require.Equal(t, m.Type, receive(t, ch, m.ID).Where)
		})
	}
}

func TestBrokerRestartMidRun(t *testing.T) {
	url := needMachineNATS(t)
	for _, js := range []bool{false, true} {
		t.Run(fmt.Sprintf("jetstream=%v", js), func(t *testing.T) {
			px := lifecycletest.NewProxy(t, machineAddr)
			ch := subscribe(t, url)
			p := newPublisher(t, &Config{URLs: []string{"nats://" + px.Addr}, JetStream: js})
			require.NoError(t, p.Connect(t.Context()))
			m1 := lifecycletest.Message("edge.node.started", "mid-"+nuid.Next(), "c")
			require.NoError(t, p.Publish(t.Context(), m1))
			receive(t, ch, m1.ID)

			px.Down()
			m2 := lifecycletest.Message("edge.node.status_changed", "mid-"+nuid.Next(), "c")
			err := p.Publish(t.Context(), m2)
			require.Error(t, err, "a publish over a lost connection fails")
			require.ErrorIs(t, err, ErrNotConnected)

			px.Up()
			require.NoError(t, p.Connect(t.Context()))
			require.NoError(t, p.Publish(t.Context(), m2), "the daemon's retry of the same message")
			require.Equal(t, m2.Type, receive(t, ch, m2.ID).Where)
			require.NoError(t, p.Close())
			require.NoError(t, p.Close())
		})
	}
}

// TestCloseWhileDown: Close returns with the server gone.
func TestCloseWhileDown(t *testing.T) {
	s := runServer(t, nil)
	p := newPublisher(t, &Config{URLs: []string{s.ClientURL()}})
	require.NoError(t, p.Connect(t.Context()))
	s.Shutdown()
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "x", "c")), ErrClosed)
	require.ErrorIs(t, p.Connect(t.Context()), ErrClosed)
}

// TestPermissionViolation: a core NATS publish the server refuses is an error,
// not a silent loss.
func TestPermissionViolation(t *testing.T) {
	s := runServer(t, &server.Options{Users: []*server.User{{
		Username: "edge", Password: "edge-password-1",
		Permissions: &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{"edge.node.>"}}},
	}}})
	p := newPublisher(t, &Config{URLs: []string{s.ClientURL()}, Username: "edge", Password: "edge-password-1"})
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "a", "c")))
	err := p.Publish(t.Context(), lifecycletest.Message("edge.command_execution.created", "b", "c"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "ermissions")
	require.NoError(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.stopping", "c", "c")), "the violation is not reported twice")
	require.False(t, errors.Is(err, ErrNotConnected))
}
