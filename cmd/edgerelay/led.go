package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgerelay/edgerelay/adapters/clock"
	"github.com/edgerelay/edgerelay/daemon"
	"github.com/edgerelay/edgerelay/daemon/config"
	"github.com/edgerelay/edgerelay/hw"
)

func ledCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "led", Short: "Check the status LED (see docs/leds.md)"}
	c.AddCommand(ledTestCmd(stdout, stderr))
	return c
}

func ledTestCmd(stdout, stderr io.Writer) *cobra.Command {
	var path, pattern string
	var each time.Duration
	c := &cobra.Command{
		Use:   "test",
		Short: "Show every status LED pattern in turn (or one, with --pattern) on the configured LED",
		Long: `led test shows the blink patterns of docs/leds.md on the LED of the indicator
section, each for --each, printing its name and meaning, then turns the LED off.
Stop the daemon first: both would drive the LED.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps := hw.Patterns()
			if pattern != "" {
				p, err := hw.ParsePattern(pattern)
				if err != nil {
					return &codeError{exitUsage, err}
				}
				ps = []hw.Pattern{p}
			}
			if each <= 0 {
				return &codeError{exitUsage, errors.New("--each must be positive")}
			}
			cfg, origin, err := loadConfig(path)
			if err != nil {
				return err
			}
			if cfg.Indicator.Backend == config.IndicatorNone {
				return &codeError{exitConfig, fmt.Errorf("no status LED in %s (indicator.backend: none)", origin)}
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			ind, err := daemon.OpenIndicator(cfg.Indicator, hw.Options{Clock: clock.Real, Log: log})
			if err != nil {
				return fmt.Errorf("status LED %q: %w", daemon.IndicatorName(cfg.Indicator), err)
			}
			fmt.Fprintf(stdout, "status LED %s (%s, from %s)\n", daemon.IndicatorName(cfg.Indicator), cfg.Indicator.Backend, origin)
			return errors.Join(showPatterns(cmd.Context(), ind, ps, each, stdout), ind.Close())
		},
	}
	configFlag(c, &path)
	c.Flags().StringVar(&pattern, "pattern", "", "show only this pattern (off, heartbeat, draining, degraded, near-full, config-invalid, storage-fault)")
	c.Flags().DurationVar(&each, "each", 10*time.Second, "how long each pattern shows")
	return c
}

// showPatterns shows each of ps on ind for each, until ctx ends.
func showPatterns(ctx context.Context, ind hw.Indicator, ps []hw.Pattern, each time.Duration, stdout io.Writer) error {
	for _, p := range ps {
		fmt.Fprintf(stdout, "%-15s %s\n", p, p.Meaning())
		if err := ind.Show(p); err != nil {
			return err
		}
		if !clock.Sleep(ctx, clock.Real, each) {
			return nil
		}
	}
	return nil
}

// showConfigInvalid makes the status LED of the configuration file (-c path, resolved
// as loadConfig does) blink config-invalid when run refuses to start. Only a device
// with the kernel timer trigger can: it keeps blinking after the process exits. Any
// other LED is left off. A file whose indicator section does not load either, or
// has none, changes nothing; problems go to stderr and never change the exit.
func showConfigInvalid(path string, stderr io.Writer) {
	file, _ := configSource(path)
	if file == "" {
		return
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return
	}
	c, err := config.IndicatorSection(b)
	if err != nil || c.Backend != config.IndicatorSysfsLED {
		return
	}
	name := c.LED
	if c.RedLED != "" {
		name = c.RedLED // config-invalid is red
	}
	led, err := hw.OpenSysfs(hw.SysfsOptions{Root: c.Root, Name: name, ActiveLow: c.ActiveLow})
	if err != nil {
		fmt.Fprintf(stderr, "edgerelay: status LED %q: %v\n", name, err)
		return
	}
	on, off, _ := hw.ConfigInvalid.Blink()
	if err := led.Blink(on, off); err != nil {
		_ = led.Close()
	}
}
