package receiver_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/alerta"
	"github.com/edgerelay/edgerelay/adapters/alerta/forward"
	"github.com/edgerelay/edgerelay/adapters/alerta/receiver"
)

// startAt is start for a receiver whose base_url must name the address its server
// listens on (so that a Hawk signature of the real host and port verifies): the
// listener is opened first and base_url is made from it and path.
func startAt(t *testing.T, path string, edit func(c *receiver.Config)) (*node, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String() + path
	c := config(base)
	edit(&c)
	n := &node{t: t, logs: &adaptertest.Buffer{}, tab: newTestTable()}
	m := adaptertest.NewMux()
	h := &health{serving: make(chan struct{})}
	src, err := receiver.NewSource(c, adapters.Deps{Name: "plant", HTTP: m, Health: h, Now: time.Now, Table: n.tab.open,
		Log: slog.New(slog.NewTextHandler(n.logs, nil))})
	require.NoError(t, err)
	n.src = src
	srv.Config.Handler = m
	srv.Start()
	t.Cleanup(srv.Close)
	n.url = srv.URL
	n.rec = adaptertest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, n.rec) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	<-h.serving
	return n, base
}

// TestFederationThroughTheForwarder carries a site's alert, action and delete to a
// plant through the alerta sink, Hawk-signed (the delete too, with the hash of its
// empty body), and checks the plant's state, its events' loop header, the sink's
// loop skip on the way back and its re-send after a 404.
func TestFederationThroughTheForwarder(t *testing.T) {
	site := start(t, config("http://site:8977/site"), options{})
	plant, plantBase := startAt(t, "/plant", func(c *receiver.Config) {
		c.Auth.Hawk = []receiver.HawkCredential{{ID: "site", Key: "site-to-plant-hawk-secret"}}
	})
	cfg := forward.DefaultConfig()
	cfg.URL = plantBase
	cfg.Forward = []string{"*"}
	cfg.Hawk = forward.HawkConfig{ID: "site", Key: "site-to-plant-hawk-secret"}
	cfg.Origin = "http://site:8977/site"
	sink, err := forward.New(cfg, adapters.Deps{Name: "plant"})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, sink.Connect(ctx))
	t.Cleanup(func() { _ = sink.Close(ctx) })
	relay := func() {
		t.Helper()
		evs := site.rec.Accepted()
		require.NoError(t, sink.Send(ctx, evs[len(evs)-1]))
	}

	const id = "9a000000-0000-4000-8000-000000000009"
	require.Equal(t, 201, site.do("POST", "/site/alert", alertBody(id, "web01", "HttpError", "major")).status)
	relay()
	a := plant.do("GET", "/plant/alert/"+id, nil, "Authorization", "")
	require.Equal(t, http.StatusUnauthorized, a.status, "the plant wants credentials")
	pe := plant.rec.Accepted()
	require.Len(t, pe, 1)
	require.Equal(t, id, pe[0].Key, "the first forward creates the plant's alert with the same id")
	require.Equal(t, "http://site:8977/site,"+plantBase, pe[0].Attrs[alerta.AttrLoop])

	require.Equal(t, 200, site.do("PUT", "/site/alert/"+id+"/action", []byte(`{"action": "ack"}`)).status)
	relay()
	require.Equal(t, alerta.OpAction, plant.rec.Accepted()[1].Attrs[alerta.AttrOp])

	// The plant's own events, sent back to the site by a sink of the plant: the
	// site is in their loop header, so the sink skips them without a request.
	back := forward.DefaultConfig()
	back.URL = "http://site:8977/site" // unreachable: a request would fail
	back.Forward = []string{"*"}
	back.Origin = plantBase
	bs, err := forward.New(back, adapters.Deps{Name: "site"})
	require.NoError(t, err)
	require.NoError(t, bs.Connect(ctx))
	for _, e := range plant.rec.Accepted() {
		require.NoError(t, bs.Send(ctx, e), "skipped, not sent")
	}

	require.Equal(t, 200, site.do("DELETE", "/site/alert/"+id, nil).status)
	relay()
	ops := []string{}
	for _, e := range plant.rec.Accepted() {
		ops = append(ops, e.Attrs[alerta.AttrOp])
	}
	require.Equal(t, []string{alerta.OpAlert, alerta.OpAction, alerta.OpDelete}, ops)
	require.Equal(t, 0, plant.src.Len(), "the Hawk-signed delete was accepted")

	// A plant that never saw the alert answers the action 404; the sink re-sends
	// the alert from alerta.resend, then the action.
	fresh, freshBase := startAt(t, "/plant", func(c *receiver.Config) {
		c.Auth.Hawk = []receiver.HawkCredential{{ID: "site", Key: "site-to-plant-hawk-secret"}}
	})
	cfg.URL = freshBase
	fs, err := forward.New(cfg, adapters.Deps{Name: "fresh"})
	require.NoError(t, err)
	require.NoError(t, fs.Connect(ctx))
	require.NoError(t, fs.Send(ctx, site.rec.Accepted()[1]))
	require.Equal(t, 1, fresh.src.Len())
	fe := fresh.rec.Accepted()
	require.Len(t, fe, 2)
	require.Equal(t, alerta.OpAlert, fe[0].Attrs[alerta.AttrOp])
	require.Equal(t, alerta.OpAction, fe[1].Attrs[alerta.AttrOp])
	require.Equal(t, id, fe[1].Key)
}
