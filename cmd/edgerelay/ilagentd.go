package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

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

// ilagentConfig parses ilagent's daemon flags and returns the equivalent configuration,
// its YAML and the parsed command.
func ilagentConfig(args []string) (*config.Config, []byte, *ilagent.Command, error) {
	parsed, err := ilagent.Parse(append([]string{ilagent.CmdDaemon}, args...), os.LookupEnv)
	if err != nil {
		var ue *ilagent.UsageError
		if errors.As(err, &ue) {
			return nil, nil, nil, &codeError{ue.Code, err}
		}
		return nil, nil, nil, &codeError{exitUsage, err}
	}
	if parsed.Name != ilagent.CmdDaemon {
		return nil, nil, parsed, nil
	}
	y, err := ilagent.ToYAML(parsed.Global, parsed.Daemon, os.LookupEnv)
	if err != nil {
		return nil, nil, nil, &codeError{exitUsage, err}
	}
	cfg, err := config.Parse(y, "built from the ilagent command line")
	if err != nil {
		return nil, nil, nil, &codeError{exitUsage, fmt.Errorf("%w\nconfiguration built from the command line:\n%s", err, y)}
	}
	return cfg, y, parsed, nil
}

func daemonCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:                "daemon [ilagent daemon flags]",
		Short:              "Run the relay with ilagent's command line (drop-in for \"ilagent daemon\")",
		Long:               daemonLong + "\n\nilagent's flags (global flags may come before or after \"daemon\"):\n" + ilagent.DaemonUsage(),
		Example:            "  ILERT_API_KEY=… edgerelay daemon -m 127.0.0.1 -q 1883 -e ilert/events -r ilert/heartbeats --mqtt_qos 1 -p 8977 -b il1hbt…",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, parsed, err := ilagentConfig(args)
			if err != nil {
				return err
			}
			switch parsed.Name {
			case ilagent.CmdHelp:
				return cmd.Help()
			case ilagent.CmdVersion:
				_, err := fmt.Fprintf(stdout, "edgerelay %s\n", buildinfo.Version)
				return err
			}
			log := slog.New(slog.NewTextHandler(newLogWriter(stderr), &slog.HandlerOptions{Level: parsed.Global.LogLevel()}))
			for _, w := range parsed.Daemon.Warnings {
				log.Warn(w)
			}
			log.Info("edgerelay starting from an ilagent command line", "version", buildinfo.Version, "store", cfg.Store.Path)
			d, err := daemon.New(daemon.Options{Config: cfg, Log: log, Version: buildinfo.Version})
			if err != nil {
				return err
			}
			return d.Run(cmd.Context())
		},
	}
	return c
}

func fromIlagentCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "from-ilagent [ilagent daemon flags]",
		Short: "Print the configuration file equivalent to an ilagent daemon command line",
		Long: `Print the edgerelay configuration that "edgerelay daemon <flags>" runs with, to
move from ilagent's command line to a configuration file. Secrets given as flags
(--mqtt_password) are printed as given.`,
		Example:            "  edgerelay config from-ilagent -m broker -e ilert/events --mqtt_qos 1 > /etc/edgerelay/edgerelay.yaml",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, y, parsed, err := ilagentConfig(args)
			if err != nil {
				return err
			}
			if parsed.Name == ilagent.CmdHelp {
				return cmd.Help()
			}
			_, err = stdout.Write(y)
			return err
		},
	}
}
