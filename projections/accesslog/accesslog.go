// Package accesslog is the auditor's view of who read a client's file and
// when, and who tried and was refused: a fold of the file.accessed and
// file.access_denied events of the client's access stream, printed as a
// table or CSV (`relais audit access`).
package accesslog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/internal/csvsafe"
)

// Outcomes of an attempt to read the file.
const (
	// OutcomeRead: the file was answered (file.accessed).
	OutcomeRead = "read"
	// OutcomeDenied: the read was refused (file.access_denied).
	OutcomeDenied = "denied"
)

// Entry is one read of the file, or one refused attempt.
type Entry struct {
	At      time.Time `json:"at"`
	ActorID string    `json:"actor_id"`
	Role    string    `json:"role"`
	View    string    `json:"view"`
	// Outcome is OutcomeRead or OutcomeDenied.
	Outcome string `json:"outcome"`
	// Reason says why a read was refused (events.DenialNoConsent, ...).
	Reason   string `json:"reason,omitempty"`
	Position uint64 `json:"position"`
	EventID  string `json:"event_id"`
}

// Fold returns the reads and refused reads of an access stream's history,
// in order; other event types are skipped.
func Fold(history []events.Event) ([]Entry, error) {
	var out []Entry
	for _, e := range history {
		p, err := e.Payload()
		if err != nil {
			return nil, fmt.Errorf("access log, position %d: %w", e.Position, err)
		}
		en := Entry{At: e.OccurredAt.UTC(), Position: e.Position, EventID: e.ID}
		switch p := p.(type) {
		case *events.FileAccessed:
			en.ActorID, en.Role, en.View, en.Outcome = p.ActorID, p.Role, p.View, OutcomeRead
		case *events.FileAccessDenied:
			en.ActorID, en.Role, en.View, en.Outcome, en.Reason = p.ActorID, p.Role, p.View, OutcomeDenied, p.Reason
		default:
			continue
		}
		out = append(out, en)
	}
	return out, nil
}

// Reader is the slice of the ledger Load needs.
type Reader interface {
	Read(ctx context.Context, stream string, from uint64) ([]events.Event, error)
}

// Load reads the access log of clientID's file. A file never read nor
// tried has no access stream: Load returns found false, and no error.
func Load(ctx context.Context, l Reader, clientID string) (entries []Entry, found bool, err error) {
	evs, err := l.Read(ctx, events.AccessStream(clientID), 1)
	if errors.Is(err, ledger.ErrStreamNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read access log of client %s: %w", clientID, err)
	}
	entries, err = Fold(evs)
	return entries, true, err
}

// rows is the log with its header, as text.
func rows(entries []Entry) [][]string {
	out := [][]string{{"when", "actor", "role", "view", "outcome", "reason", "position", "event_id"}}
	for _, e := range entries {
		out = append(out, []string{e.At.Format(time.RFC3339), e.ActorID, e.Role, e.View, e.Outcome, e.Reason, fmt.Sprint(e.Position), e.EventID})
	}
	return out
}

// WriteCSV writes the log as CSV with a header line; cells are safe to open
// in a spreadsheet (internal/csvsafe).
func WriteCSV(w io.Writer, entries []Entry) error {
	cw := csvsafe.NewWriter(w)
	if err := cw.WriteAll(rows(entries)); err != nil {
		return fmt.Errorf("write access log csv: %w", err)
	}
	return nil
}

// WriteTable writes the log as aligned columns with a header line.
func WriteTable(w io.Writer, entries []Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows(entries) {
		for i, c := range r {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, c)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write access log table: %w", err)
	}
	return nil
}
