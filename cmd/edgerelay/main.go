// Command edgerelay carries alert events between a site and the incident platforms
// that page people, and keeps carrying them through outages and power cuts.
//
// This file only parses the command line; the daemon lives in package daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	_ "github.com/edgerelay/edgerelay/adapters/all" // the compiled-in adapters
	"github.com/edgerelay/edgerelay/adapters/secret"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/buildinfo"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
)

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1
	exitUsage  = 2
	exitConfig = 78 // EX_CONFIG from sysexits.h
)

// exitError carries an exit code through cobra.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs one command line. Everything it writes goes through secret.Writer, so no
// output (config check's errors, queue list's reasons, a command's failure) shows a
// secret of the configuration; only "config from-ilagent" writes its configuration
// file, secrets as given, to the raw stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	raw := stdout
	out, errw := secret.Writer(stdout), secret.Writer(stderr)
	defer out.Close()
	defer errw.Close()
	stdout, stderr = out, errw
	root := newRoot(stdout, stderr, raw)
	root.SetArgs(ilagentOrder(args))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "edgerelay:", err)
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitError
}

func newRoot(stdout, stderr, rawStdout io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "edgerelay",
		Short: "Carry alert events between a site and incident platforms, durably",
		Long: `edgerelay carries alert events from MQTT (and more) to webhooks, ilert, Alerta and
other destinations, and keeps them safe in a local store through outages and power cuts.

Run "edgerelay run" to start on the built-in default: an MQTT broker on
127.0.0.1:1883, everything published on edgerelay/# printed to stdout.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	// ilagent's global --version/-V: the version on one line, exit 0. (-v stays
	// ilagent's verbose flag; "edgerelay version" prints the details.) Not cobra's
	// Version: its template would link text/template, which costs megabytes.
	version := root.Flags().BoolP("version", "V", false, "print the version and exit")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if *version {
			_, err := fmt.Fprintf(stdout, "edgerelay %s\n", buildinfo.Version)
			return err
		}
		return cmd.Help()
	}
	root.AddCommand(runCmd(stderr), configCmd(stdout, rawStdout), queueCmd(stdout, stderr), versionCmd(stdout), eventCmd(stdout, stderr), heartbeatCmd(stdout, stderr), daemonCmd(stdout, stderr), ledCmd(stdout, stderr))
	root.AddCommand(genDocsCmd(root))
	return root
}

// configFlag adds -c/--config, which falls back to $EDGERELAY_CONFIG, then to the
// installed configuration.
func configFlag(c *cobra.Command, path *string) {
	c.Flags().StringVarP(path, "config", "c", "", "configuration file (default: $EDGERELAY_CONFIG, else "+
		InstalledConfig+" when it exists, else the built-in default)")
}

// InstalledConfig is where the packages install the configuration the unit runs.
// $EDGERELAY_SYSTEM_CONFIG replaces it (for tests, and for a system that keeps it
// elsewhere).
const InstalledConfig = "/etc/edgerelay/edgerelay.yaml"

func installedConfig() string {
	if p := os.Getenv("EDGERELAY_SYSTEM_CONFIG"); p != "" {
		return p
	}
	return InstalledConfig
}

// loadConfig loads, in this order, the file named by path (-c), the one named by
// $EDGERELAY_CONFIG, the installed configuration when it exists, or the built-in
// default, and says which in origin ("/etc/edgerelay/edgerelay.yaml (the installed
// configuration)"). An invalid configuration exits with 78.
func loadConfig(path string) (cfg *config.Config, origin string, err error) {
	path, origin = configSource(path)
	if path == "" {
		cfg, err = config.LoadDefault()
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return nil, origin, &codeError{exitConfig, err}
	}
	return cfg, origin, nil
}

// configSource resolves the file loadConfig loads ("" for the built-in default) and
// says which it is.
func configSource(path string) (file, origin string) {
	switch {
	case path != "":
		origin = path + " (-c)"
	case os.Getenv("EDGERELAY_CONFIG") != "":
		path = os.Getenv("EDGERELAY_CONFIG")
		origin = path + " ($EDGERELAY_CONFIG)"
	default:
		if p := installedConfig(); fileExists(p) {
			path, origin = p, p+" (the installed configuration)"
		}
	}
	if path == "" {
		origin = "the built-in default (no -c, no $EDGERELAY_CONFIG, no " + installedConfig() + ")"
	}
	return path, origin
}

// fileExists reports whether name is there (a directory or something unreadable
// counts: Load then says what is wrong with it).
func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// configExit gives err exit code code when it is a configuration problem
// (*config.Error, from daemon.New or daemon.Check), else returns it as is.
func configExit(err error, code int) error {
	var ce *config.Error
	if errors.As(err, &ce) {
		return &codeError{code, err}
	}
	return err
}

// newLogger writes cfg's log format to w at cfg's level, held in lvl when it is not
// nil (a reload sets it).
func newLogger(cfg *config.Config, w io.Writer, lvl *slog.LevelVar) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(cfg.Log.Level))
	if lvl == nil {
		lvl = new(slog.LevelVar)
	}
	lvl.Set(l)
	opts := &slog.HandlerOptions{Level: lvl}
	w = newLogWriter(w)
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	// Redaction is the outermost handler: whatever sits inside it (rate limits keyed
	// on the message, the formatter) sees only redacted text.
	return slog.New(secret.Handler(h))
}

func runCmd(stderr io.Writer) *cobra.Command {
	var path string
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the relay in the foreground (what the systemd unit starts)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hup := catchHangups()
			defer hup.stop()
			cfg, origin, err := loadConfig(path)
			if err != nil {
				showConfigInvalid(path, stderr)
				return err
			}
			level := new(slog.LevelVar)
			log := newLogger(cfg, stderr, level)
			for _, w := range cfg.Warnings {
				log.Warn("configuration: " + w)
			}
			log.Info("edgerelay starting", "version", buildinfo.Version, "config", origin, "store", cfg.Store.Path)
			// A reload (SIGHUP) reads the file the start read, the same way.
			load := func() (*config.Config, error) {
				cfg, _, err := loadConfig(path)
				if err != nil {
					return nil, err
				}
				for _, w := range cfg.Warnings {
					log.Warn("configuration: " + w)
				}
				return cfg, nil
			}
			d, err := daemon.New(daemon.Options{Config: cfg, Log: log, Version: buildinfo.Version, Load: load, LogLevel: level})
			if err != nil {
				err = configExit(err, exitConfig)
				var ce *codeError
				if errors.As(err, &ce) && ce.code == exitConfig {
					showConfigInvalid(path, stderr)
				}
				return err
			}
			hup.reloadOn(d, log)
			return d.Run(cmd.Context())
		},
	}
	configFlag(c, &path)
	return c
}

func configCmd(stdout, rawStdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Check or print configuration"}
	var path string
	var sample daemon.Sample
	var samplePath string
	check := &cobra.Command{
		Use:   "check [--sample FILE [--route R] [--source S] [--topic T] [--kind K] [--key K]]",
		Short: "Validate a configuration offline; exit 78 if it is invalid",
		Long: "Validate a configuration offline, building every adapter as run would; exit 78 if it is invalid.\n\n" +
			"With --sample FILE, also dry-run FILE's contents as an event through the routes (or the one --route\n" +
			"names): which routes take it, what their transforms make of it, and the exact request each sink\n" +
			"would send (credentials as ***). Nothing is sent.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, where, err := loadConfig(path)
			if err != nil {
				return err
			}
			if err := daemon.Check(cfg); err != nil { // what run would refuse beyond the file
				return configExit(err, exitConfig)
			}
			if samplePath != "" {
				if sample.Payload, err = os.ReadFile(samplePath); err != nil {
					return &codeError{exitUsage, fmt.Errorf("--sample: %w", err)}
				}
				report, err := daemon.DryRun(cfg, sample)
				if err != nil {
					return &codeError{exitUsage, err}
				}
				_, err = io.WriteString(stdout, report)
				return err
			}
			for _, w := range cfg.Warnings {
				fmt.Fprintf(stdout, "warning: %s\n", w)
			}
			fmt.Fprintf(stdout, "configuration OK: %s (%d sources, %d sinks, %d routes; store %s)\n",
				where, len(cfg.Sources), len(cfg.Sinks), len(cfg.Routes), cfg.Store.Path)
			return nil
		},
	}
	configFlag(check, &path)
	check.Flags().StringVar(&samplePath, "sample", "", "dry-run this file's contents as an event through the routes")
	check.Flags().StringVar(&sample.Route, "route", "", "with --sample: only this route")
	check.Flags().StringVar(&sample.Source, "source", "", "with --sample: the source it comes from (default: the first)")
	check.Flags().StringVar(&sample.Topic, "topic", "", "with --sample: its topic")
	check.Flags().StringVar(&sample.Kind, "kind", "", "with --sample: its kind (default raw)")
	check.Flags().StringVar(&sample.Key, "key", "", "with --sample: its ordering key")
	sampleCmd := &cobra.Command{
		Use:   "sample",
		Short: "Print the built-in default configuration, a starting point for your own",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := stdout.Write(config.DefaultYAML)
			return err
		},
	}
	var printPath string
	var redact bool
	printCmd := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration (defaults applied, secrets masked)",
		Long: "Print the effective configuration as YAML: every section with its defaults, each adapter's\n" +
			"settings, the events section as the variables leave it. Secret fields print as ***;\n" +
			"--redact also masks every known secret inside other values (URL user info), for a bug report.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, origin, err := loadConfig(printPath)
			if err != nil {
				return err
			}
			b, err := config.Print(cfg)
			if err != nil {
				return err
			}
			out := rawStdout
			if redact {
				out = stdout
			}
			if _, err := fmt.Fprintf(out, "# the effective configuration of %s\n", origin); err != nil {
				return err
			}
			_, err = out.Write(b)
			return err
		},
	}
	configFlag(printCmd, &printPath)
	printCmd.Flags().BoolVar(&redact, "redact", false, "also mask every known secret inside other values (URL user info)")
	c.AddCommand(check, sampleCmd, printCmd, fromIlagentCmd(stdout, rawStdout))
	return c
}

// ilagentOrder accepts ilagent's global flags before the subcommand
// ("edgerelay -v event …"): it moves the one-shot subcommand to the front, where
// cobra expects it; the flags then reach ilagent's parser, which takes them anywhere.
func ilagentOrder(args []string) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "event" || a == "heartbeat" || a == "daemon":
			if i == 0 {
				return args
			}
			out := append([]string{a}, args[:i]...)
			return append(out, args[i+1:]...)
		case a == "-f" || a == "--file":
			i++ // its value
		case strings.HasPrefix(a, "-v") || a == "--verbose" || strings.HasPrefix(a, "--file="):
		default:
			return args
		}
	}
	return args
}
