package nats

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/lifecycle/lifecycletest"
)

// streamOf returns the stream EDGE_EVENTS on the server at url.
func streamOf(t *testing.T, url string) (jetstream.JetStream, *jetstream.StreamInfo, error) {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(t.Context(), Stream)
	if err != nil {
		return js, nil, err
	}
	info, err := s.Info(t.Context())
	return js, info, err
}

func TestJetStreamCreatesMissingStream(t *testing.T) {
	s := runServer(t, &server.Options{JetStream: true})
	_, _, err := streamOf(t, s.ClientURL())
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound, "a new server has no stream")

	p := newPublisher(t, &Config{URLs: []string{s.ClientURL()}, JetStream: true})
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c")))

	_, info, err := streamOf(t, s.ClientURL())
	require.NoError(t, err)
	require.Equal(t, []string{"edge.>"}, info.Config.Subjects)
	require.Equal(t, jetstream.FileStorage, info.Config.Storage)
	require.Equal(t, 7*24*time.Hour, info.Config.MaxAge)
	require.EqualValues(t, 1, info.State.Msgs)
}

// otherStream is a stream EDGE_EVENTS as an operator might have made it.
var otherStream = jetstream.StreamConfig{
	Name:        Stream,
	Description: "made by the operator",
	Subjects:    []string{"edge.>"},
	Storage:     jetstream.MemoryStorage,
	MaxAge:      time.Hour,
	MaxMsgs:     1000,
	Duplicates:  time.Minute,
}

func TestJetStreamExistingStreamNotModified(t *testing.T) {
	s := runServer(t, &server.Options{JetStream: true})
	js, _, _ := streamOf(t, s.ClientURL())
	_, err := js.CreateStream(t.Context(), otherStream)
	require.NoError(t, err)
	_, before, err := streamOf(t, s.ClientURL())
	require.NoError(t, err)

	p := newPublisher(t, &Config{URLs: []string{s.ClientURL()}, JetStream: true})
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c")))

	_, after, err := streamOf(t, s.ClientURL())
	require.NoError(t, err)
	require.Equal(t, before.Config, after.Config, "the stream's settings are the operator's")
	require.Equal(t, before.Created, after.Created, "the stream was not made again")
	require.EqualValues(t, 1, after.State.Msgs)
}

// TestJetStreamConcurrentCreator: another daemon creates the stream (with its own
// settings) between this one's look-up and its creation; "already in use" is
// success and the other's stream stays as it is.
func TestJetStreamConcurrentCreator(t *testing.T) {
	s := runServer(t, &server.Options{JetStream: true})
	js, _, _ := streamOf(t, s.ClientURL())
	p := newPublisher(t, &Config{URLs: []string{s.ClientURL()}, JetStream: true})
	p.afterLookup = func() {
		_, err := js.CreateStream(context.Background(), otherStream)
		require.NoError(t, err)
	}
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c")))
	_, info, err := streamOf(t, s.ClientURL())
	require.NoError(t, err)
	require.Equal(t, jetstream.MemoryStorage, info.Config.Storage)
	require.Equal(t, time.Hour, info.Config.MaxAge)
}

func TestJetStreamNotEnabled(t *testing.T) {
	s := runServer(t, nil)
	p := newPublisher(t, &Config{URLs: []string{s.ClientURL()}, JetStream: true})
	err := p.Connect(t.Context())
	require.Error(t, err)
	require.Contains(t, err.Error(), EnvJetStream, "the error says how to publish without JetStream")
}

// TestJetStreamStreamWithoutTheSubject: an operator's EDGE_EVENTS that does not
// capture a type fails Publish (no stream answers), and is still not modified.
func TestJetStreamStreamWithoutTheSubject(t *testing.T) {
	s := runServer(t, &server.Options{JetStream: true})
	js, _, _ := streamOf(t, s.ClientURL())
	narrow := otherStream
	narrow.Subjects = []string{"edge.node.>"}
	_, err := js.CreateStream(t.Context(), narrow)
	require.NoError(t, err)
	p := newPublisher(t, &Config{URLs: []string{s.ClientURL()}, JetStream: true})
	require.NoError(t, p.Connect(t.Context()))
	require.NoError(t, p.Publish(t.Context(), lifecycletest.Message("edge.node.started", "id-1", "c")))
	require.Error(t, p.Publish(t.Context(), lifecycletest.Message("edge.command_execution.created", "id-2", "c")))
	_, info, err := streamOf(t, s.ClientURL())
	require.NoError(t, err)
	require.Equal(t, []string{"edge.node.>"}, info.Config.Subjects)
}

// TestJetStreamDuplicateDropped publishes one id twice to the machine's server:
// both Publish calls succeed, the stream keeps one copy.
func TestJetStreamDuplicateDropped(t *testing.T) {
	url := needMachineNATS(t)
	p := newPublisher(t, &Config{URLs: []string{url}, JetStream: true})
	require.NoError(t, p.Connect(t.Context()))
	typ := "edge.test.duplicate_" + nuid.Next() // a subject of its own on the shared stream
	m := lifecycletest.Message(typ, "dup-"+nuid.Next(), "c")
	require.NoError(t, p.Publish(t.Context(), m))
	require.NoError(t, p.Publish(t.Context(), m), "a duplicate is success")
	m2 := lifecycletest.Message(typ, "dup-"+nuid.Next(), "c")
	require.NoError(t, p.Publish(t.Context(), m2))

	js, _, err := streamOf(t, url)
	require.NoError(t, err)
	st, err := js.Stream(t.Context(), Stream)
	require.NoError(t, err)
	info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(typ))
	require.NoError(t, err)
	require.Equal(t, map[string]uint64{typ: 2}, info.State.Subjects, "the copy is dropped, the other id kept")
}

// TestJetStreamOnMachine: the machine's server has the stream after Connect,
// capturing edge.>.
func TestJetStreamOnMachine(t *testing.T) {
	url := needMachineNATS(t)
	p := newPublisher(t, &Config{URLs: []string{url}, JetStream: true})
	require.NoError(t, p.Connect(t.Context()))
	_, info, err := streamOf(t, url)
	require.NoError(t, err)
	require.Contains(t, info.Config.Subjects, "edge.>")
}
