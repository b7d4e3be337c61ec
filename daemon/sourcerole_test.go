package daemon_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/daemon/events"
	"github.com/edgerelay/edgerelay/daemon/health"
)

// roleSteps carries the roles a roleSource reports, one per receive; a closed channel
// ends them.
var roleSteps = make(chan [2]string)

// roleSource reports each role it is handed through Deps.Role.
type roleSource struct{ role func(role, reason string) }

func (s *roleSource) Run(ctx context.Context, _ adapters.Publisher) error {
	for {
		select {
		case step := <-roleSteps:
			s.role(step[0], step[1])
		case <-ctx.Done():
			return nil
		}
	}
}

func init() {
	adapters.RegisterSource("test_role", adapters.SourceSpec[struct{}]{
		New: func(_ struct{}, d adapters.Deps) (adapters.Source, error) {
			if d.Role == nil {
				return nil, fmt.Errorf("source %s got no Role", d.Name)
			}
			return &roleSource{role: d.Role}, nil
		},
	})
}

// TestSourceRole: each change of a source's role is one SourceRoleChanged event, in
// order, a repeated role is none, and a standby source is degraded, not down.
func TestSourceRole(t *testing.T) {
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
store: { path: %s/q.db }
http: { listen: "127.0.0.1:0" }
broker: { enabled: "false" }
sources: [ { name: edge, type: test_role } ]
sinks: [ { name: console, type: stdout } ]
routes: [ { from: [edge], to: [console] } ]
`, t.TempDir())), "test.yaml")
	require.NoError(t, err)
	d, err := daemon.New(daemon.Options{Config: cfg, Log: slog.New(slog.DiscardHandler), Version: "test"})
	require.NoError(t, err)
	sub := d.Events().Subscribe("test", 16, events.SourceRoleChanged, events.ReadinessChanged)
	defer sub.Close()
	defer runDaemon(t, d)()

	// next returns the next role change, skipping readiness events of other conditions.
	next := func() events.Event {
		t.Helper()
		for {
			select {
			case e := <-sub.C():
				if e.Kind == events.SourceRoleChanged {
					return e
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no SourceRoleChanged event")
			}
		}
	}
	roleCond := func() health.Condition {
		for _, c := range d.Health().Snapshot() {
			if c.Component == "source:edge" && c.Name == "role" {
				return c
			}
		}
		t.Fatal("no role condition")
		return health.Condition{}
	}

	roleSteps <- [2]string{adapters.RoleStandby, "node-b holds the lease"}
	e := next()
	require.Equal(t, []string{"edge", "", "standby", "node-b holds the lease"}, []string{e.Source, e.From, e.To, e.Reason})
	c := roleCond()
	require.False(t, c.OK)
	require.Equal(t, health.Degraded, c.Severity, "a standby source is degraded, not down")
	require.Equal(t, "standby: node-b holds the lease", c.Detail)
	ready, _ := d.Health().Ready()
	require.True(t, ready, "a standby source keeps the node in service")

	roleSteps <- [2]string{adapters.RoleStandby, "still standby"} // the same role: no event
	roleSteps <- [2]string{adapters.RoleActive, "lease acquired"}
	e = next()
	require.Equal(t, []string{"standby", "active", "lease acquired"}, []string{e.From, e.To, e.Reason},
		"the repeated standby published nothing")
	require.True(t, roleCond().OK)
}
