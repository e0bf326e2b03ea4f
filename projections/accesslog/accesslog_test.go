package accesslog_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/infra/ledger/jetstream/jstest"
	"github.com/relais-health/relais/projections/accesslog"
)

func TestLoad(t *testing.T) {
	ctx := context.Background()
	l := jstest.Ledger(t)
	reads := []events.FileAccessed{
		{ClientID: "c1", ActorID: "cm-1", Role: events.RoleCaseManager, View: "file"},
		{ClientID: "c1", ActorID: "aud-1", Role: events.RoleAuditor, View: "timeline"},
	}
	for _, r := range reads {
		if _, err := l.Append(ctx, events.AccessStream("c1"), ledger.Any, events.MustNew(&r, events.Actor{ID: r.ActorID, Role: r.Role})); err != nil {
			t.Fatal(err)
		}
	}
	denied := events.FileAccessDenied{ClientID: "c1", ActorID: "rehab-1", Role: events.CategoryRehab, View: "file", Reason: events.DenialNoConsent}
	if _, err := l.Append(ctx, events.AccessStream("c1"), ledger.Any, events.MustNew(&denied, events.Actor{ID: "rehab-1", Role: events.CategoryRehab})); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		client    string
		wantFound bool
		wantRows  []string // actor/view/outcome/reason of each entry, in order
	}{
		{"a file never read has no log", "c2", false, nil},
		{"every read and refused read of a file is listed in the order it was recorded", "c1", true,
			[]string{"cm-1/file/read/", "aud-1/timeline/read/", "rehab-1/file/denied/no_consent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found, err := accesslog.Load(ctx, l, tt.client)
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.wantFound || len(got) != len(tt.wantRows) {
				t.Fatalf("found %v, %d entries; want %v, %d", found, len(got), tt.wantFound, len(tt.wantRows))
			}
			for i, e := range got {
				if e.ActorID+"/"+e.View+"/"+e.Outcome+"/"+e.Reason != tt.wantRows[i] || e.Position == 0 || e.EventID == "" || e.At.IsZero() {
					t.Errorf("entry %d = %+v, want %s with position, id and time", i, e, tt.wantRows[i])
				}
			}
		})
	}
}

func TestFoldSkipsOtherEvents(t *testing.T) {
	admin := events.Actor{ID: "admin", Role: events.RoleAdmin}
	history := []events.Event{
		events.MustNew(&events.ClientFlagged{ClientID: "c1", Programme: "defi-sante"}, admin),
		events.MustNew(&events.FileAccessed{ClientID: "c1", ActorID: "admin", Role: events.RoleAdmin, View: "file"}, admin),
	}
	got, err := accesslog.Fold(history)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].View != "file" {
		t.Fatalf("fold = %+v, want the one file access", got)
	}
}

func TestWrite(t *testing.T) {
	entries := []accesslog.Entry{{ActorID: "cm-1", Role: events.RoleCaseManager, View: "file", Outcome: accesslog.OutcomeRead, Position: 7, EventID: "e7"}}
	t.Run("the table has a header and a line per read", func(t *testing.T) {
		var b bytes.Buffer
		if err := accesslog.WriteTable(&b, entries); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "when") || !strings.Contains(lines[1], "cm-1") {
			t.Fatalf("table:\n%s", b.String())
		}
	})
	t.Run("the CSV reads back with eight columns", func(t *testing.T) {
		var b bytes.Buffer
		if err := accesslog.WriteCSV(&b, entries); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&b).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || len(rows[1]) != 8 || rows[1][1] != "cm-1" || rows[1][6] != "7" {
			t.Fatalf("csv rows = %q", rows)
		}
	})
}

// A cell of the access log that would start a formula in a spreadsheet is
// written behind a quote (the log's ids are the directory's, but the CSV
// writer does not rely on that).
func TestWriteCSVNeutralizesFormulas(t *testing.T) {
	entries := []accesslog.Entry{{ActorID: "=HYPERLINK(\"http://evil.example\")", Role: "@x", View: "-1+1", Outcome: accesslog.OutcomeDenied, Reason: "+cmd", Position: 3, EventID: "e3"}}
	var b bytes.Buffer
	if err := accesslog.WriteCSV(&b, entries); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]string{1: "'=HYPERLINK(\"http://evil.example\")", 2: "'@x", 3: "'-1+1", 5: "'+cmd", 6: "3"} {
		if rows[1][i] != want {
			t.Errorf("column %s = %q, want %q", rows[0][i], rows[1][i], want)
		}
	}
}
