package main

// The one-shot commands `edgerelay event` and `edgerelay heartbeat`: ilagent's
// subcommands of the same names (spec ilagent-behavior.md §2, §3.1, §3.2), except
// that they exit 1 when ilert does not accept (spec §11.18, issue 3 item 1).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/edgerelay/edgerelay/adapters"
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/buildinfo"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/ilagent"
)

// Environment variables that move the one-shot commands to another ilert host
// (a proxy, a regional endpoint, or a test fake).
const (
	envAPIHost       = "ILERT_API_HOST"
	envHeartbeatHost = "ILERT_HEARTBEAT_HOST"
)

// oneShotSinkType is the registered sink the one-shot commands send with.
const oneShotSinkType = "ilert"

// oneShotEnv documents the environment of both one-shot commands.
const oneShotEnv = `
Environment:
  ILERT_INTEGRATION_KEY  the integration key when -k/--integration_key is not given
  ILERT_API_KEY          optional; sent as "Authorization: Bearer <key>"
  ILERT_API_HOST         base URL of the ilert API (default https://api.ilert.com);
                         events and legacy il1hbt heartbeats go there
  ILERT_HEARTBEAT_HOST   base URL that receives heartbeat pings
                         (HEAD /api/pings/<key>; default https://api.ilert.com)

Exit status: 0 when ilert accepted (202 Accepted), 1 when it answered anything
else or could not be reached (the status and an excerpt of the answer are
printed on stderr), 2 for a usage error.
ilagent's global flags -v/--verbose (repeatable) and -f/--file are accepted
after the subcommand; -f is ignored, since nothing is queued.`

func eventCmd(stdout, stderr io.Writer) *cobra.Command {
	return oneShotCmd(ilagent.CmdEvent,
		"Send one event to ilert and exit non-zero unless it was accepted",
		`Send one alert event to ilert (POST /api/events), exactly like "ilagent event":
one attempt, no queue, no retry. The flags are ilagent's:

  -k, --integration_key KEY   integration key (else $ILERT_INTEGRATION_KEY)
  -t, --event_type TYPE       ALERT, ACCEPT or RESOLVE (required)
  -s, --summary TEXT          summary (required)
  -i, --alert_key KEY         deduplication key
  -o, --priority PRIO         LOW or HIGH
  -d, --details TEXT          details
  -g, --image URL             image, sent as images: [{"src": URL}]
  -l, --link URL              link, sent as links: [{"href": URL, "text": "Provided Url"}]
`+oneShotEnv,
		"edgerelay event -k il1api123 -t ALERT -s 'Pump 3 pressure low' -i pump3",
		stdout, stderr)
}

func heartbeatCmd(stdout, stderr io.Writer) *cobra.Command {
	return oneShotCmd(ilagent.CmdHeartbeat,
		"Send one heartbeat to ilert and exit non-zero unless it was accepted",
		`Send one heartbeat ping to ilert, exactly like "ilagent heartbeat": one attempt.
Legacy keys starting with il1hbt are sent as GET <api host>/api/heartbeats/<key>,
every other key as HEAD <heartbeat host>/api/pings/<key>. The flags are ilagent's:

  -k, --integration_key KEY   heartbeat key (else $ILERT_INTEGRATION_KEY)
`+oneShotEnv,
		"edgerelay heartbeat -k il1hbt123",
		stdout, stderr)
}

// oneShotCmd builds a cobra command that hands its arguments to ilagent's parser
// (cobra's own flag parsing is off, so ilagent's flags and messages apply).
func oneShotCmd(name, short, long, example string, stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:                name + " [flags]",
		Short:              short,
		Long:               long,
		Example:            "  " + example,
		DisableFlagParsing: true,
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		parsed, handled, err := parseIlagent(cmd, stdout, name, args)
		if handled || err != nil {
			return err
		}
		log := slog.New(secret.Handler(slog.NewTextHandler(newLogWriter(stderr), &slog.HandlerOptions{Level: parsed.Global.LogLevel()})))
		ev, what, err := oneShotEvent(parsed)
		if err != nil {
			return &codeError{exitUsage, err}
		}
		return sendOnce(cmd.Context(), ev, what, log)
	}
	return c
}

// parseIlagent parses an ilagent subcommand's arguments. Usage errors carry their
// exit code; help and version are answered here, with handled set.
func parseIlagent(cmd *cobra.Command, stdout io.Writer, name string, args []string) (c *ilagent.Command, handled bool, err error) {
	c, err = ilagent.Parse(append([]string{name}, args...), os.LookupEnv)
	if err != nil {
		code := exitUsage
		var ue *ilagent.UsageError
		if errors.As(err, &ue) {
			code = ue.Code
		}
		return nil, true, &codeError{code, err}
	}
	switch c.Name {
	case ilagent.CmdHelp:
		return c, true, cmd.Help()
	case ilagent.CmdVersion:
		_, err := fmt.Fprintf(stdout, "edgerelay %s\n", buildinfo.Version)
		return c, true, err
	}
	return c, false, nil
}

// oneShotEvent turns a parsed event or heartbeat command into the event the ilert
// sink sends, and names it for messages.
func oneShotEvent(c *ilagent.Command) (*adapters.Event, string, error) {
	switch {
	case c.Event != nil:
		secret.Register(c.Event.IntegrationKey) // -k or ILERT_INTEGRATION_KEY: never printed
		body, err := c.Event.Body()
		if err != nil {
			return nil, "", err
		}
		return &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindAlert, Key: c.Event.AlertKey, Payload: body}, "event", nil
	case c.Heartbeat != nil:
		secret.Register(c.Heartbeat.IntegrationKey)
		return &adapters.Event{ID: adapters.NewID(), Kind: adapters.KindHeartbeat, Key: c.Heartbeat.IntegrationKey}, "heartbeat", nil
	}
	return nil, "", fmt.Errorf("unexpected command %q", c.Name)
}

// oneShotSink builds the ilert sink through the registry, so that a binary built
// without it (edgerelay_omit_ilert) says so instead of not linking. Its settings are
// the defaults, with the hosts taken from ILERT_API_HOST and ILERT_HEARTBEAT_HOST
// when they are set.
func oneShotSink(log *slog.Logger) (adapters.Sink, error) {
	f, ok := adapters.Lookup(adapters.DirSink, oneShotSinkType)
	if !ok {
		if err := adapters.NotBuiltIn(adapters.DirSink, oneShotSinkType); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("this edgerelay has no %s sink", oneShotSinkType)
	}
	hosts := map[string]string{}
	if h := strings.TrimSpace(os.Getenv(envAPIHost)); h != "" {
		hosts["api_host"] = h
	}
	if h := strings.TrimSpace(os.Getenv(envHeartbeatHost)); h != "" {
		hosts["heartbeat_host"] = h
	}
	settingsErr := func(err error) error {
		return fmt.Errorf("ilert settings from %s/%s: %w", envAPIHost, envHeartbeatHost, err)
	}
	cfg := f.NewConfig()
	var n yaml.Node
	if err := n.Encode(hosts); err != nil {
		return nil, settingsErr(err)
	}
	if err := n.Decode(cfg); err != nil {
		return nil, settingsErr(err)
	}
	sink, err := f.BuildSink(cfg, adapters.Deps{Name: oneShotSinkType, Log: log, Health: adapters.NopHealth{}, Now: time.Now, Version: buildinfo.Version})
	if err != nil {
		return nil, settingsErr(err)
	}
	return sink, nil
}

// sendOnce makes one attempt to deliver ev with a fresh ilert sink. A sink or
// environment problem exits 2; anything but acceptance by ilert exits 1.
func sendOnce(ctx context.Context, ev *adapters.Event, what string, log *slog.Logger) error {
	sink, err := oneShotSink(log)
	if err != nil {
		return &codeError{exitUsage, err}
	}
	if err := sink.Connect(ctx); err != nil {
		return &codeError{exitUsage, fmt.Errorf("connect to ilert: %w", err)}
	}
	defer func() { _ = sink.Close(context.WithoutCancel(ctx)) }()
	if err := sink.Send(ctx, ev); err != nil {
		return &codeError{exitError, fmt.Errorf("ilert did not accept the %s: %w", what, err)}
	}
	log.Info("ilert accepted the " + what)
	return nil
}
