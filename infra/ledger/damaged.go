package ledger

import (
	"fmt"
	"strings"

	"github.com/relais-health/relais/events"
)

// DamagedRecord is one stored record of a stream that cannot be read: the
// backend counts it (its revision is taken) but its bytes fail the storage
// checksum.
type DamagedRecord struct {
	Revision uint64
	// Position is its global position; 0 when it could not be located.
	Position uint64
	// Maybe lists other positions it may be at, when several unreadable
	// records lie where it could be.
	Maybe []uint64
}

// DamagedError: a stream holds records nobody can read, not yet recorded
// as lost. Appends to the stream are refused with it (appending after an
// unknown event would build on a history no one can check) until an
// operator records each loss with `relais repair`. It matches
// ErrStreamDamaged.
type DamagedError struct {
	Stream  string
	Records []DamagedRecord
}

func (e *DamagedError) Error() string {
	if len(e.Records) == 0 {
		return fmt.Sprintf("stream %s: %v", e.Stream, ErrStreamDamaged)
	}
	r := e.Records[0]
	at := fmt.Sprintf("position %d", r.Position)
	if r.Position == 0 {
		at = "an unlocated position"
	}
	var also string
	if len(r.Maybe) > 0 {
		also = fmt.Sprintf(" (or one of positions %s)", joinPositions(r.Maybe))
	}
	if n := len(e.Records); n > 1 {
		also += fmt.Sprintf("; %d more unreadable records in this stream", n-1)
	}
	return fmt.Sprintf("stream %s is damaged: its event at revision %d, %s%s, cannot be read (the stored record fails its storage checksum); "+
		"the stream takes no new event until the loss is recorded: restore --data from a backup, or run "+
		"relais repair --stream %s --position %d --reason \"...\" (docs/RELIABILITY.md)",
		e.Stream, r.Revision, at, also, e.Stream, r.Position)
}

// Is matches ErrStreamDamaged.
func (e *DamagedError) Is(target error) bool { return target == ErrStreamDamaged }

func joinPositions(ps []uint64) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}

// MissingRevision is a revision a stream's read skipped: the event before
// it (Before, 0 at the start) and after it (After, 0 at the end) bound
// where its record lies.
type MissingRevision struct {
	Revision uint64
	// Before and After are the global positions of the readable events
	// around it (0: none).
	Before, After uint64
}

// MissingRevisions lists the revisions of a stream that a read did not
// return although the backend counts them: gaps between the events (in
// revision order) and, with stored (the number of records the backend
// counts, 0 if unknown), those after the last. Revisions recorded as lost
// by a ledger.record_damaged event of the stream are left out.
func MissingRevisions(evs []events.Event, stored uint64) []MissingRevision {
	var miss []MissingRevision
	var prev events.Event
	for _, e := range evs {
		for r := prev.Revision + 1; r < e.Revision; r++ {
			miss = append(miss, MissingRevision{Revision: r, Before: prev.Position, After: e.Position})
		}
		prev = e
	}
	for r := prev.Revision + 1; r <= stored; r++ {
		miss = append(miss, MissingRevision{Revision: r, Before: prev.Position})
	}
	if len(miss) == 0 {
		return nil
	}
	repaired := RepairedRevisions(evs)
	kept := miss[:0]
	for _, m := range miss {
		if _, ok := repaired[m.Revision]; !ok {
			kept = append(kept, m)
		}
	}
	return kept
}

// RepairedRevisions maps each revision a ledger.record_damaged event of
// the stream records as lost to that event.
func RepairedRevisions(evs []events.Event) map[uint64]events.Event {
	var out map[uint64]events.Event
	for _, e := range evs {
		if e.Type != events.TypeRecordDamaged {
			continue
		}
		p, err := e.Payload()
		if err != nil {
			continue
		}
		if rd, ok := p.(*events.RecordDamaged); ok {
			if out == nil {
				out = map[uint64]events.Event{}
			}
			out[rd.Revision] = e
		}
	}
	return out
}
