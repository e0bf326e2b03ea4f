package projections_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/relais-health/relais/projections"
)

func TestAliasesResolveMergesToTheStandingKey(t *testing.T) {
	type merge struct{ merged, surviving, standing string }
	for _, c := range []struct {
		name   string
		merges []merge
		// want maps each key asked to the key that should stand for it.
		want map[string]string
	}{
		{"a key never merged stands for itself", nil,
			map[string]string{"A": "A", "unknown": "unknown"}},
		{"a merged key resolves to its survivor", []merge{{"A", "B", "B"}},
			map[string]string{"A": "B", "B": "B", "C": "C"}},
		{"a chain A into B into C resolves every key to C", []merge{{"A", "B", "B"}, {"B", "C", "C"}},
			map[string]string{"A": "C", "B": "C", "C": "C"}},
		{"a merge into a key that was itself merged goes to the standing key", []merge{{"B", "C", "C"}, {"A", "B", "C"}},
			map[string]string{"A": "C", "B": "C", "C": "C"}},
		{"a merge back keeps the key that stands for both", []merge{{"A", "B", "B"}, {"B", "A", "B"}},
			map[string]string{"A": "B", "B": "B"}},
		{"a chain merged back at its start keeps its end standing", []merge{{"A", "B", "B"}, {"B", "C", "C"}, {"C", "A", "C"}},
			map[string]string{"A": "C", "B": "C", "C": "C"}},
		{"a key merged twice follows its last merge", []merge{{"A", "B", "B"}, {"A", "D", "D"}},
			map[string]string{"A": "D", "B": "B", "D": "D"}},
		{"a repeated merge changes nothing", []merge{{"A", "B", "B"}, {"A", "B", "B"}},
			map[string]string{"A": "B", "B": "B"}},
		{"a merge of a key into itself records nothing", []merge{{"A", "A", "A"}},
			map[string]string{"A": "A"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := projections.Aliases{}
			for _, m := range c.merges {
				if got := a.Merge(m.merged, m.surviving); got != m.standing {
					t.Fatalf("Merge(%s, %s) = %s, want %s", m.merged, m.surviving, got, m.standing)
				}
			}
			for key, want := range c.want {
				if got := a.Resolve(key); got != want {
					t.Errorf("Resolve(%s) = %s, want %s", key, got, want)
				}
				got, merged := a.ResolveBytes([]byte(key))
				if merged != (want != key) || (merged && got != want) || (!merged && got != "") {
					t.Errorf("ResolveBytes(%s) = %q, %v; want %q, %v", key, got, merged, want, want != key)
				}
			}
			for merged, to := range a {
				if merged == to {
					t.Errorf("key %s is an alias of itself", merged)
				}
			}
		})
	}
}

func TestAliasesEndOnADamagedMap(t *testing.T) {
	cycle := projections.Aliases{"A": "B", "B": "A"}
	if got := cycle.Resolve("A"); got != "A" && got != "B" {
		t.Fatalf("Resolve on a cycle = %s", got)
	}
	long := projections.Aliases{}
	for i := range 100 {
		long[fmt.Sprint(i)] = fmt.Sprint(i + 1)
	}
	if got := long.Resolve("0"); got == "100" {
		t.Fatal("a chain of 100 merges was followed to its end: the bound is gone")
	}
	// A merge into such a chain's unfinished end makes that key stand.
	survivor := long.Merge("x", "0")
	if _, merged := long[survivor]; merged || long.Resolve("x") != survivor {
		t.Fatalf("after a merge into a long chain: survivor %s still merged, x resolves to %s", survivor, long.Resolve("x"))
	}
}

func TestAliasesJSONIsTheMap(t *testing.T) {
	a := projections.Aliases{}
	a.Merge("A", "B")
	b, err := json.Marshal(a)
	if err != nil || string(b) != `{"A":"B"}` {
		t.Fatalf("json %s, %v", b, err)
	}
}
