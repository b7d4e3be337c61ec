package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/edgerelay/edgerelay/adapters/adaptertest"
	"github.com/edgerelay/edgerelay/adapters/ilert"
	"github.com/edgerelay/edgerelay/cmd/edgerelay/internal/ilagent"
	"github.com/edgerelay/edgerelay/hw/gpio"
)

const module = "github.com/edgerelay/edgerelay"

// omittable is every adapter an edgerelay_omit_<name> tag drops (adapters/all): the
// packages that must go with it (a path and everything below it) and the modules
// only it needs.
// omittableAdapter is an adapter an omit tag drops, with its packages and the
// modules only it (or only it and other omittable adapters) needs.
type omittableAdapter struct {
	name     string
	packages []string
	modules  []string
}

var omittable = []omittableAdapter{
	{"alerta", []string{module + "/adapters/alerta"}, nil},
	{"ilert", []string{module + "/adapters/ilert"}, nil},
	{"kafka", []string{module + "/adapters/kafka"}, []string{"github.com/IBM/sarama"}},
	{"lifecycle_amqp091", []string{module + "/adapters/lifecycle/amqp091"}, []string{"github.com/rabbitmq/amqp091-go"}},
	{"lifecycle_awssns", []string{module + "/adapters/lifecycle/awssns"}, nil},
	{"lifecycle_googlepubsub", []string{module + "/adapters/lifecycle/googlepubsub"}, nil},
	{"lifecycle_kafka", []string{module + "/adapters/lifecycle/kafka"}, []string{"github.com/IBM/sarama"}},
	{"lifecycle_mqtt", []string{module + "/adapters/lifecycle/mqtt"}, nil},
	{"lifecycle_nats", []string{module + "/adapters/lifecycle/nats"}, []string{"github.com/nats-io/nats.go"}},
	{"lifecycle_redis", []string{module + "/adapters/lifecycle/redis"}, nil},
	{"mqtt", []string{module + "/adapters/mqtt"}, []string{"github.com/eclipse/paho.mqtt.golang"}},
	{"script", []string{module + "/adapters/script"}, nil},
	{"stdout", []string{module + "/adapters/stdout"}, nil},
	{"webhook", []string{module + "/adapters/webhook"}, nil},
}

// coreModules is every module a core-only binary (all omit tags) links: the daemon,
// the store, the embedded broker and the command line. A new entry is a new
// dependency of every flavour; add it here only deliberately (size budget W8). Sorted.
var coreModules = []string{
	"github.com/VictoriaMetrics/metrics",
	"github.com/coreos/go-systemd/v22",
	module,
	"github.com/gorilla/websocket", // mochi's listeners package
	"github.com/mochi-mqtt/server/v2",
	"github.com/rs/xid",
	"github.com/spf13/cobra",
	"github.com/spf13/pflag",
	"github.com/tidwall/gjson",
	"github.com/tidwall/match",
	"github.com/tidwall/pretty",
	"github.com/valyala/fastrand",
	"github.com/valyala/histogram",
	"go.etcd.io/bbolt",
	"go.yaml.in/yaml/v3",
	"golang.org/x/sync",
	"golang.org/x/sys",
	"periph.io/x/conn/v3", // the GPIO status LED (hw/gpio): core, but edgerelay_omit_gpio drops it
	"periph.io/x/host/v3",
}

// gpioModules are the modules only the GPIO backend of the status LED (hw/gpio)
// needs: edgerelay_omit_gpio leaves them out.
var gpioModules = []string{"periph.io/x/conn/v3", "periph.io/x/host/v3"}

// corePackages are the packages under adapters/ that a core-only binary keeps: the
// contract, the (empty) link list, and the leaves the core shares with adapters (the
// clock, the log limiter, the ordered-settle tracker the embedded broker's bridge
// uses, TLS files for the daemon's listeners, the topic matcher the router uses, the
// redaction of secrets every output goes through).
var corePackages = []string{
	module + "/adapters", module + "/adapters/all", module + "/adapters/clock", module + "/adapters/logx",
	module + "/adapters/secret", module + "/adapters/settle", module + "/adapters/tlsfiles",
	module + "/adapters/topic", module + "/adapters/internal/text", // text: the secret package's cutting
	module + "/adapters/lifecycle", // the lifecycle publishers' contract (daemon/lifecycle)
}

// goTool returns the go command, or skips (fails under CI=true) when there is none.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	adaptertest.Missing(t, "needs the go command on PATH or in $GOROOT/bin")
	return ""
}

// goCmd runs the go command in the module root with CGO_ENABLED=0, as the release
// builds do, and returns its standard output.
func goCmd(t *testing.T, goBin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = ".." + string(filepath.Separator) + ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), stderr.String())
	return string(out)
}

// linked returns the packages and modules `go list -deps` says ./cmd/edgerelay
// links with the given build tags.
func linked(t *testing.T, goBin string, tags []string) (pkgs, mods []string) {
	t.Helper()
	out := goCmd(t, goBin, "list", "-deps", "-tags", strings.Join(tags, ","),
		"-f", "{{if not .Standard}}{{.ImportPath}} {{with .Module}}{{.Path}}{{end}}{{end}}", "./cmd/edgerelay")
	for line := range strings.Lines(out) {
		pkg, mod, _ := strings.Cut(strings.TrimSpace(line), " ")
		if pkg == "" {
			continue
		}
		pkgs = append(pkgs, pkg)
		if mod != "" && !slices.Contains(mods, mod) {
			mods = append(mods, mod)
		}
	}
	slices.Sort(mods)
	return pkgs, mods
}

// under reports whether pkg is path or below it.
func under(pkg, path string) bool { return pkg == path || strings.HasPrefix(pkg, path+"/") }

// flavour is a set of omitted adapters.
type flavour struct {
	name string
	omit []string // adapter names
}

func (f flavour) tags() []string {
	var tags []string
	for _, n := range f.omit {
		tags = append(tags, "edgerelay_omit_"+n)
	}
	return tags
}

func flavours() []flavour {
	fs := []flavour{{name: "full"}}
	var all []string
	for _, a := range omittable {
		fs = append(fs, flavour{name: "omit_" + a.name, omit: []string{a.name}})
		all = append(all, a.name)
	}
	return append(fs, flavour{name: "core-only", omit: all})
}

// TestOmittableIsComplete keeps omittable in step with adapters/all: one entry per
// maybe_<name>.go link file, each with its omit_<name>.go (the Makefile's core-only
// build takes its tags from those).
func TestOmittableIsComplete(t *testing.T) {
	var names []string
	for _, a := range omittable {
		names = append(names, a.name)
	}
	for _, pattern := range []string{"maybe_*.go", "omit_*.go"} {
		files, err := filepath.Glob(filepath.Join("..", "..", "adapters", "all", pattern))
		require.NoError(t, err)
		var got []string
		for _, f := range files {
			got = append(got, strings.TrimSuffix(strings.SplitN(filepath.Base(f), "_", 2)[1], ".go"))
		}
		require.Equal(t, names, got, "adapters/all/%s", pattern)
	}
}

// TestFlavoursLink checks, for the full build, each omit tag alone and all of them
// together, that an omitted adapter's packages and modules are not linked and every
// other adapter's are; the core-only build links exactly the core modules and no
// adapter package; the embedded broker is in every flavour. Each flavour is also
// compiled (go vet), so that no tag combination rots.
func TestFlavoursLink(t *testing.T) {
	goBin := goTool(t)
	for _, f := range flavours() {
		t.Run(f.name, func(t *testing.T) {
			pkgs, mods := linked(t, goBin, f.tags())
			require.Contains(t, pkgs, module+"/daemon/broker", "the embedded broker is core")
			require.Contains(t, mods, "github.com/mochi-mqtt/server/v2")
			for _, a := range omittable {
				omitted := slices.Contains(f.omit, a.name)
				for _, p := range a.packages {
					n := slices.IndexFunc(pkgs, func(pkg string) bool { return under(pkg, p) })
					if omitted {
						require.Equal(t, -1, n, "edgerelay_omit_%s links %s", a.name, p)
					} else {
						require.NotEqual(t, -1, n, "%s is not linked without edgerelay_omit_%s", p, a.name)
					}
				}
				for _, m := range a.modules {
					// A module several adapters share (sarama: the kafka adapter and the
					// lifecycle one) goes only when every one of them is omitted.
					want := slices.ContainsFunc(omittable, func(b omittableAdapter) bool {
						return slices.Contains(b.modules, m) && !slices.Contains(f.omit, b.name)
					})
					require.Equal(t, want, slices.Contains(mods, m), "module %s linked: %v (omitted %v)", m, want, f.omit)
				}
			}
			if len(f.omit) == len(omittable) {
				require.Equal(t, coreModules, mods, "modules of the core-only build")
				for _, pkg := range pkgs {
					if under(pkg, module+"/adapters") {
						require.Contains(t, corePackages, pkg, "the core-only build links an adapter package")
					}
				}
			}
			goCmd(t, goBin, "vet", "-tags", strings.Join(f.tags(), ","), "./cmd/edgerelay")
		})
	}
}

// TestOmitGPIO: edgerelay_omit_gpio leaves periph out, alone and with every adapter
// omitted, and keeps everything else; the package hw/gpio stays, with the error that
// names the tag. Both builds compile (go vet).
func TestOmitGPIO(t *testing.T) {
	goBin := goTool(t)
	_, full := linked(t, goBin, nil)
	for _, m := range gpioModules {
		require.Contains(t, full, m, "the full build has the GPIO backend")
	}
	for _, tags := range [][]string{{gpio.OmitTag}, append(flavours()[len(omittable)+1].tags(), gpio.OmitTag)} {
		pkgs, mods := linked(t, goBin, tags)
		for _, m := range gpioModules {
			require.NotContains(t, mods, m, "-tags %s", strings.Join(tags, ","))
		}
		require.Contains(t, pkgs, module+"/hw/gpio")
		if len(tags) == 1 {
			want := slices.DeleteFunc(slices.Clone(full), func(m string) bool { return slices.Contains(gpioModules, m) })
			require.Equal(t, want, mods, "only periph goes")
		}
		goCmd(t, goBin, "vet", "-tags", strings.Join(tags, ","), "./cmd/edgerelay", "./hw/...", "./daemon")
	}
}

// TestCoreOnlyBinary builds the core-only binary and checks that it says what it
// was built without: `version` lists the omit tags, `config check` of a file using
// omitted adapters names them and their tags, the built-in default configuration
// (an mqtt source and a stdout sink) fails at load with the same message instead of
// starting, and `event` reports that the ilert sink is missing.
func TestCoreOnlyBinary(t *testing.T) {
	goBin := goTool(t)
	core := flavours()[len(omittable)+1]
	bin := filepath.Join(t.TempDir(), "edgerelay-core")
	goCmd(t, goBin, "build", "-tags", strings.Join(core.tags(), ","), "-o", bin, "./cmd/edgerelay")

	runBin := func(args ...string) (code int, out string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = t.TempDir()
		b, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(b)
		}
		require.NoError(t, err, "%s", b)
		return 0, string(b)
	}

	code, out := runBin("version")
	require.Equal(t, exitOK, code, out)
	require.Contains(t, out, "omitted: "+strings.Join(core.tags(), ", "))

	cfg := filepath.Join(t.TempDir(), "ilert.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
sources:
  - {name: plant, type: mqtt, url: "tcp://127.0.0.1:1883", topics: ["a/#"]}
sinks:
  - {name: pager, type: ilert, integration_key: il1api123}
  - {name: bus, type: mqtt, url: "tcp://127.0.0.1:1883", topic: "site/{key}"}
routes:
  - {name: r, from: [plant], to: [pager], transform: {type: ilert}}
  - {name: b, from: [plant], to: [bus]}
`), 0o600))
	code, out = runBin("config", "check", "-c", cfg)
	require.Equal(t, exitConfig, code, out)
	for _, want := range []string{
		`type "mqtt": this edgerelay was built without the mqtt source (build tag edgerelay_omit_mqtt)`,
		`type "ilert": this edgerelay was built without the ilert sink (build tag edgerelay_omit_ilert)`,
		`type "mqtt": this edgerelay was built without the mqtt sink (build tag edgerelay_omit_mqtt)`,
		`type "ilert": this edgerelay was built without the ilert transform (build tag edgerelay_omit_ilert)`,
	} {
		require.Contains(t, out, want)
	}

	code, out = runBin("run")
	require.Equal(t, exitConfig, code, out)
	require.Contains(t, out, "built-in default configuration")
	require.Contains(t, out, "built without the mqtt source (build tag edgerelay_omit_mqtt)")
	require.Contains(t, out, "built without the stdout sink (build tag edgerelay_omit_stdout)")

	code, out = runBin("event", "-k", "il1api123", "-t", "ALERT", "-s", "x")
	require.Equal(t, exitUsage, code, out)
	require.Contains(t, out, "built without the ilert sink (build tag edgerelay_omit_ilert)")
}

// TestEventBodyMatchesIlert keeps the body the one-shot `event` command builds
// (package ilagent, so that it need not link the ilert adapter) equal to what the
// ilert adapter's Event encodes.
func TestEventBodyMatchesIlert(t *testing.T) {
	for _, e := range []ilagent.Event{
		{IntegrationKey: "il1api123", EventType: "RESOLVE", Summary: "ok"},
		{IntegrationKey: "k", EventType: "ALERT", Summary: "p <3> & q", AlertKey: "pump3", Priority: "HIGH",
			Details: "below 2 bar", Image: "https://img/x.png?a=1&b=2", Link: "https://site/pump3"},
	} {
		got, err := e.Body()
		require.NoError(t, err)
		text := "Provided Url"
		want := ilert.Event{IntegrationKey: e.IntegrationKey, EventType: e.EventType, Summary: e.Summary,
			CustomDetails: []byte("null")}
		if e.Details != "" {
			want.Details, want.AlertKey, want.Priority = &e.Details, &e.AlertKey, &e.Priority
			want.Images = []ilert.Image{{Src: e.Image}}
			want.Links = []ilert.Link{{Href: e.Link, Text: &text}}
		}
		wantBody, err := want.Encode()
		require.NoError(t, err)
		require.Equal(t, string(wantBody), string(got))
		_, err = ilert.CheckEvent(got)
		require.NoError(t, err)
	}
}
