package tests

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// module is Relais's module path.
const module = "github.com/relais-health/relais/"

// layers ranks the top-level folders in the direction data flows: a
// package may import only packages of a lower layer, or of its own folder.
// Two folders on one layer (services, projections) never import each other.
var layers = map[string]int{
	"events":      0,
	"internal":    0,
	"infra":       1,
	"services":    2,
	"projections": 2,
	"delivery":    3,
	"adapters":    4,
	"app":         5,
	"cmd":         6,
	"tests":       7,
}

// imports lists every package of the module with what its code and its
// tests import from the module (go list, the project's own command).
func imports(t *testing.T) map[string][][2]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .TestImports " "}} {{join .XTestImports " "}}`, "./...")
	cmd.Dir = filepath.Join("..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	got := map[string][][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 {
			t.Fatalf("go list line %q", line)
		}
		pkg := strings.TrimPrefix(parts[0], module)
		for i, kind := range []string{"code", "test"} {
			for _, imp := range strings.Fields(parts[i+1]) {
				if dep, ok := strings.CutPrefix(imp, module); ok {
					got[pkg] = append(got[pkg], [2]string{dep, kind})
				}
			}
		}
		if _, ok := got[pkg]; !ok {
			got[pkg] = nil
		}
	}
	return got
}

func top(pkg string) string { return strings.SplitN(pkg, "/", 2)[0] }

// Every import points down the flow: events ← infra ← services and
// projections ← delivery ← adapters ← app ← cmd ← tests (see
// docs/ARCHITECTURE.md). Tests of a package never import upward either.
func TestImportsFollowTheFlow(t *testing.T) {
	pkgs := imports(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages; expected the whole module", len(pkgs))
	}
	for pkg, deps := range pkgs {
		from, ok := layers[top(pkg)]
		if !ok {
			t.Errorf("package %s is in a top-level folder with no layer: add it to layers and docs/ARCHITECTURE.md", pkg)
			continue
		}
		for _, d := range deps {
			dep, kind := d[0], d[1]
			to, ok := layers[top(dep)]
			switch {
			case !ok:
				t.Errorf("%s (%s) imports %s, in a folder with no layer", pkg, kind, dep)
			case top(dep) == top(pkg):
			case kind == "test" && to == from:
				// A test may wire a real neighbour of its layer (the intake
				// service's test looks clients up in the real client index).
			case to >= from:
				t.Errorf("%s (%s) imports %s: %s (layer %d) may not import %s (layer %d)", pkg, kind, dep, top(pkg), from, top(dep), to)
			}
		}
	}
}

// Inside a top-level folder, its sub-folders do not import each other in a
// circle through their code (a folder cycle that Go's package rule alone
// would allow). Tests may use a sibling (casemgmt's tests run pharmacy).
func TestNoFolderCycles(t *testing.T) {
	pkgs := imports(t)
	// folder is the first two path elements: infra/ledger, projections/alerts.
	folder := func(p string) string {
		e := strings.Split(p, "/")
		if len(e) > 2 {
			e = e[:2]
		}
		return strings.Join(e, "/")
	}
	edges := map[string]map[string]bool{}
	for pkg, deps := range pkgs {
		for _, d := range deps {
			a, b := folder(pkg), folder(d[0])
			if a == b || d[1] == "test" {
				continue
			}
			if edges[a] == nil {
				edges[a] = map[string]bool{}
			}
			edges[a][b] = true
		}
	}
	// Depth-first search for a back edge.
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var path []string
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		path = append(path, n)
		for m := range edges[n] {
			switch color[m] {
			case grey:
				t.Errorf("folder cycle: %s -> %s", strings.Join(path, " -> "), m)
			case white:
				visit(m)
			}
		}
		path = path[:len(path)-1]
		color[n] = black
	}
	for n := range edges {
		if color[n] == white {
			visit(n)
		}
	}
}
