package tests

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No Docker engine runs here: docker-compose.yml and the Dockerfile are
// checked for their structure, and every relais flag they use against the
// built binary's own --help.

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                    `yaml:"image"`
	Build       any                       `yaml:"build"`
	Command     []string                  `yaml:"command"`
	Environment map[string]string         `yaml:"environment"`
	Ports       []string                  `yaml:"ports"`
	Volumes     []string                  `yaml:"volumes"`
	Profiles    []string                  `yaml:"profiles"`
	DependsOn   map[string]map[string]any `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatalf("the project promises a docker-compose.yml at the root: %v", err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

var flagName = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`)

// serveFlags is every flag `relais serve --help` lists (its own and the
// global ones).
func serveFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, errOut, code := runRelais(t, "serve", "--help")
	if code != 0 {
		t.Fatalf("relais serve --help exit %d: %s", code, errOut)
	}
	flags := map[string]bool{}
	for _, m := range flagName.FindAllStringSubmatch(out, -1) {
		flags[m[1]] = true
	}
	if !flags["nats"] || !flags["replicas"] || !flags["http"] {
		t.Fatalf("serve --help lists no --nats/--replicas/--http: %q", out)
	}
	return flags
}

// cmdFlags parses "--name=value" and "--name value" tokens.
func cmdFlags(cmd []string) map[string]string {
	out := map[string]string{}
	for i, tok := range cmd {
		if !strings.HasPrefix(tok, "--") {
			continue
		}
		name, val, ok := strings.Cut(strings.TrimPrefix(tok, "--"), "=")
		if !ok && i+1 < len(cmd) && !strings.HasPrefix(cmd[i+1], "--") {
			val = cmd[i+1]
		}
		out[name] = val
	}
	return out
}

func TestComposeNATSClusterOfThreeFsyncingNodes(t *testing.T) {
	c := readCompose(t)
	conf, err := os.ReadFile("../infra/compose/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sync_interval: always", "store_dir: /data", "cluster {", "authorization {",
		"nats://nats-1:6222", "nats://nats-2:6222", "nats://nats-3:6222", "server_name: $NATS_SERVER_NAME"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("infra/compose/nats.conf lacks %q", want)
		}
	}
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		t.Run(name, func(t *testing.T) {
			s, ok := c.Services[name]
			if !ok {
				t.Fatalf("no service %s", name)
			}
			if !strings.HasPrefix(s.Image, "nats:") {
				t.Errorf("image %q, want nats:", s.Image)
			}
			if s.Environment["NATS_SERVER_NAME"] != name {
				t.Errorf("NATS_SERVER_NAME %q, want %s", s.Environment["NATS_SERVER_NAME"], name)
			}
			if !slices.Contains(s.Volumes, name+":/data") {
				t.Errorf("volumes %v: no named volume %s on /data (the JetStream store)", s.Volumes, name)
			}
			if _, ok := c.Volumes[name]; !ok {
				t.Errorf("volume %s not declared at the top level", name)
			}
			if !slices.Contains(s.Volumes, "./infra/compose/nats.conf:/etc/nats/nats.conf:ro") || !slices.Contains(s.Command, "/etc/nats/nats.conf") {
				t.Errorf("volumes %v, command %v: nats.conf not mounted and used", s.Volumes, s.Command)
			}
			if !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "/healthz?js-enabled-only=true") {
				t.Errorf("health check %v does not ask JetStream", s.Healthcheck.Test)
			}
			if len(s.Ports) != 0 {
				t.Errorf("ports %v: the cluster is reachable from the compose network only", s.Ports)
			}
		})
	}
}

func TestComposeTwoRelaisWithRealFlags(t *testing.T) {
	c := readCompose(t)
	flags := serveFlags(t)
	hostPorts := map[string]string{}
	for _, name := range []string{"relais-1", "relais-2"} {
		t.Run(name, func(t *testing.T) {
			s, ok := c.Services[name]
			if !ok {
				t.Fatalf("no service %s", name)
			}
			if s.Build == nil {
				t.Errorf("%s is not built from the Dockerfile", name)
			}
			if len(s.Command) == 0 || s.Command[0] != "serve" {
				t.Fatalf("command %v, want serve …", s.Command)
			}
			got := cmdFlags(s.Command)
			for f := range got {
				if !flags[f] {
					t.Errorf("--%s is not a flag of relais serve", f)
				}
			}
			if got["replicas"] != "3" {
				t.Errorf("--replicas %q, want 3", got["replicas"])
			}
			for _, node := range []string{"@nats-1:4222", "@nats-2:4222", "@nats-3:4222"} {
				if !strings.Contains(got["nats"], node) {
					t.Errorf("--nats %q does not list %s", got["nats"], node)
				}
			}
			if got["durability"] != "strict" {
				t.Errorf("--durability %q, want strict", got["durability"])
			}
			if !slices.Contains(s.Volumes, name+":"+got["data"]) {
				t.Errorf("volumes %v: no named volume on --data %s", s.Volumes, got["data"])
			}
			hc := strings.Join(s.Healthcheck.Test, " ")
			if !strings.Contains(hc, "/healthz") || !strings.Contains(hc, strings.TrimPrefix(got["http"], ":")) {
				t.Errorf("health check %q does not ask /healthz on --http %s", hc, got["http"])
			}
			for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
				if s.DependsOn[n]["condition"] != "service_healthy" {
					t.Errorf("depends_on %v: not waiting for %s healthy", s.DependsOn, n)
				}
			}
			if s.Environment["RELAIS_ADMIN_TOKEN"] == "" {
				t.Errorf("no RELAIS_ADMIN_TOKEN: the token shown once would be in a container log")
			}
			for _, p := range s.Ports {
				host, _, _ := strings.Cut(p, ":")
				if other, dup := hostPorts[host]; dup {
					t.Errorf("host port %s of %s already published by %s", host, name, other)
				}
				hostPorts[host] = name
			}
		})
	}
}

func TestComposeKurrentDBIsAnOptionalProfile(t *testing.T) {
	s, ok := readCompose(t).Services["kurrentdb"]
	if !ok {
		t.Fatal("no kurrentdb service")
	}
	if !slices.Equal(s.Profiles, []string{"kurrentdb"}) {
		t.Errorf("profiles %v: KurrentDB must start only with --profile kurrentdb", s.Profiles)
	}
	if !slices.Contains(s.Ports, "2113:2113") || len(s.Volumes) == 0 || len(s.Healthcheck.Test) == 0 {
		t.Errorf("ports %v, volumes %v, health check %v", s.Ports, s.Volumes, s.Healthcheck.Test)
	}
}

func TestDockerfileBuildsAStaticBinaryRunAsNonRoot(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	var user, build string
	var copied bool
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			if len(f) != 4 || !strings.EqualFold(f[2], "AS") {
				t.Errorf("stage %q is not named (FROM image AS name)", line)
				continue
			}
			stages = append(stages, f[3])
			user = "" // USER applies to its own stage
		case "USER":
			user = f[1]
		case "RUN":
			if strings.Contains(line, "go build") {
				build = line
			}
		case "COPY":
			copied = copied || len(stages) > 1 && strings.HasPrefix(f[1], "--from="+stages[0])
		}
	}
	if len(stages) < 2 {
		t.Fatalf("stages %v: want a build stage and a run stage", stages)
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !strings.Contains(build, "./cmd/relais") {
		t.Errorf("build %q: want CGO_ENABLED=0 go build … ./cmd/relais", build)
	}
	if !copied {
		t.Errorf("the run stage does not copy the binary from stage %s", stages[0])
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("final stage USER %q: want a non-root user", user)
	}
}
