package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/buildinfo"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/ilagent"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
)

const daemonLong = `Run the relay from ilagent's command line: the same flags, defaults, environment
variables and startup checks as "ilagent daemon" (exit code 2 with ilagent's message
when they fail). The flags become an ordinary edgerelay configuration — print it with
"edgerelay config from-ilagent <flags>" — and every event goes through the durable
store: ilert outages, restarts and power cuts lose nothing.

Differences from ilagent are listed in docs/ilagent-compat.md.`

// ilagentConfig turns a parsed `daemon` command line into the equivalent
// configuration and its YAML.
func ilagentConfig(parsed *ilagent.Command) (*config.Config, []byte, error) {
	// The secrets of the command line and of its environment, registered before
	// anything (an error quoting the configuration, a log line) could show them.
	secret.RegisterUserPassword(parsed.Daemon.MQTTUsername, parsed.Daemon.MQTTPassword)
	if e := parsed.Daemon.Edge; e != nil {
		secret.Register(e.ConnectorKey, e.HTTPAuthValue)
	}
	y, err := ilagent.ToYAML(parsed.Global, parsed.Daemon, os.LookupEnv)
	if err != nil {
		return nil, nil, &codeError{exitUsage, err}
	}
	cfg, err := config.Parse(y, "built from the ilagent command line")
	if err != nil {
		return nil, nil, &codeError{exitUsage, fmt.Errorf("%w\nconfiguration built from the command line:\n%s", err, y)}
	}
	return cfg, y, nil
}

func daemonCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "daemon [ilagent daemon flags]",
		Short: "Run the relay with ilagent's command line (drop-in for \"ilagent daemon\")",
		Long:  daemonLong + "\n\nilagent's flags (global flags may come before or after \"daemon\"):\n" + ilagent.DaemonUsage(),
		Example: "  ILERT_API_KEY=… edgerelay daemon -m 127.0.0.1 -q 1883 -e ilert/events -r ilert/heartbeats --mqtt_qos 1 -p 8977 -b il1hbt…\n" +
			"  ILERT_EDGE_CONNECTOR_KEY=… edgerelay daemon --edge_mode http --edge_http_url http://10.0.0.5:8080/alerts -p 8977",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			hup := catchHangups()
			defer hup.stop()
			parsed, handled, err := parseIlagent(cmd, stdout, ilagent.CmdDaemon, args)
			if handled || err != nil {
				return err
			}
			cfg, _, err := ilagentConfig(parsed)
			if err != nil {
				return err
			}
			log := slog.New(secret.Handler(slog.NewTextHandler(newLogWriter(stderr), &slog.HandlerOptions{Level: parsed.Global.LogLevel()})))
			hup.logTo(log)
			for _, w := range parsed.Daemon.Warnings {
				log.Warn(w)
			}
			log.Info("edgerelay starting from an ilagent command line", "version", buildinfo.Version, "store", cfg.Store.Path)
			d, err := daemon.New(daemon.Options{Config: cfg, Log: log, Version: buildinfo.Version})
			if err != nil {
				return configExit(err, exitUsage)
			}
			return d.Run(cmd.Context())
		},
	}
	return c
}

// fromIlagentCmd prints the configuration file to rawStdout, which is not redacted:
// the file must hold the secrets given as flags.
func fromIlagentCmd(stdout, rawStdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "from-ilagent [ilagent daemon flags]",
		Short: "Print the configuration file equivalent to an ilagent daemon command line",
		Long: `Print the edgerelay configuration that "edgerelay daemon <flags>" runs with, to
move from ilagent's command line to a configuration file. Secrets given as flags
(--mqtt_password, --edge_http_auth_value) are printed as given; those from the
environment (ILERT_EDGE_CONNECTOR_KEY, ILERT_EDGE_HTTP_AUTH_VALUE) are named by
their variable (key_env, auth_value_env), so the file holds no copy of them.`,
		Example:            "  edgerelay config from-ilagent -m broker -e ilert/events --mqtt_qos 1 > /etc/edgerelay/edgerelay.yaml",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			parsed, handled, err := parseIlagent(cmd, stdout, ilagent.CmdDaemon, args)
			if handled || err != nil {
				return err
			}
			_, y, err := ilagentConfig(parsed)
			if err != nil {
				return err
			}
			_, err = rawStdout.Write(y)
			return err
		},
	}
}
