package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/relais-health/relais/events"
)

// RepairedRecord is an unreadable record whose loss an operator recorded
// with a ledger.record_damaged event: verify reports it, it is not a break.
type RepairedRecord struct {
	Position uint64
	Stream   string
	Revision uint64
	// By is the repair event: its position, id, actor, time and reason.
	ByPosition uint64
	ByEventID  string
	Actor      string
	At         time.Time
	Reason     string
}

// StoredCounter is a backend that counts each stream's stored records,
// readable or not (JetStream's subject counts): verify asks it which
// stream an unreadable record at the end of a stream belonged to.
type StoredCounter interface {
	StoredCounts(ctx context.Context) (map[string]uint64, error)
}

// maxUnreadable bounds the unreadable positions verify keeps track of;
// past it, a gap is a plain break (records removed wholesale).
const maxUnreadable = 100_000

// unreadableRec is one position in the global sequence no read returned.
type unreadableRec struct {
	pos      uint64
	stream   string // "" until attributed
	revision uint64
	repair   *RepairedRecord
}

// skipRun is a run of revisions of a stream that a later event of the
// stream skipped, when more unreadable positions lie between than the
// revisions skipped (so which is which is settled by Finish).
type skipRun struct {
	stream        string
	revs          []uint64
	before, after uint64
}

// damageBook is the verifier's account of unreadable records.
type damageBook struct {
	recs  []*unreadableRec // by position
	byPos map[uint64]*unreadableRec
	runs  []skipRun
}

// unreadable notes positions from..to as unreadable; false when there are
// too many to be a few damaged records.
func (d *damageBook) unreadable(from, to uint64) bool {
	if to < from || to-from+1+uint64(len(d.recs)) > maxUnreadable {
		return false
	}
	if d.byPos == nil {
		d.byPos = map[uint64]*unreadableRec{}
	}
	for p := from; p <= to; p++ {
		r := &unreadableRec{pos: p}
		d.recs = append(d.recs, r)
		d.byPos[p] = r
	}
	return true
}

// open lists the unattributed unreadable records strictly between two
// positions (after = 0: no upper bound).
func (d *damageBook) open(before, after uint64) []*unreadableRec {
	var out []*unreadableRec
	for _, r := range d.recs {
		if r.pos > before && (after == 0 || r.pos < after) && r.stream == "" {
			out = append(out, r)
		}
	}
	return out
}

// skip accounts for an event of stream at (rev, pos) whose previous
// readable event was (prevRev, prevPos): the revisions between must be
// unreadable records lying between the two positions. False when there are
// not enough of them (a plain break).
func (d *damageBook) skip(stream string, prevRev, prevPos, rev, pos uint64) bool {
	k := int(rev - prevRev - 1)
	cand := d.open(prevPos, pos)
	if len(cand) < k {
		return false
	}
	if len(cand) == k {
		for i, r := range cand {
			r.stream, r.revision = stream, prevRev+uint64(i)+1
		}
		return true
	}
	run := skipRun{stream: stream, before: prevPos, after: pos}
	for r := prevRev + 1; r < rev; r++ {
		run.revs = append(run.revs, r)
	}
	d.runs = append(d.runs, run)
	return true
}

// repaired applies a ledger.record_damaged event: the record it names must
// be an unreadable position before it, of its stream.
func (d *damageBook) repaired(e events.Event) error {
	p, err := e.Payload()
	if err != nil {
		return fmt.Errorf("ledger.record_damaged: %w", err)
	}
	rd, ok := p.(*events.RecordDamaged)
	if !ok {
		return fmt.Errorf("ledger.record_damaged: payload %T", p)
	}
	r := d.byPos[rd.Position]
	switch {
	case r == nil:
		return fmt.Errorf("ledger.record_damaged records position %d as unreadable, but that position was read (or lies after it)", rd.Position)
	case r.stream == "":
		r.stream, r.revision = e.Stream, rd.Revision
		for i := range d.runs {
			if d.runs[i].stream == e.Stream {
				d.runs[i].revs = removeRev(d.runs[i].revs, rd.Revision)
			}
		}
	case r.stream != e.Stream || r.revision != rd.Revision:
		return fmt.Errorf("ledger.record_damaged records position %d as revision %d of %s, but it was revision %d of %s",
			rd.Position, rd.Revision, e.Stream, r.revision, r.stream)
	}
	r.repair = &RepairedRecord{Position: rd.Position, Stream: e.Stream, Revision: rd.Revision,
		ByPosition: e.Position, ByEventID: e.ID, Actor: e.Actor.ID, At: e.RecordedAt, Reason: rd.Reason}
	return nil
}

func removeRev(revs []uint64, rev uint64) []uint64 {
	out := revs[:0]
	for _, r := range revs {
		if r != rev {
			out = append(out, r)
		}
	}
	return out
}

// Finish ends a verification up to head: positions after the last event
// checked up to head are unreadable records too; each unreadable record is
// attributed to its stream (by the chains, then by asking l: its reads name
// a damaged stream's positions); a record whose loss was recorded is
// reported as repaired (Report().Repaired); the first one that was not is
// a *BrokenLinkError matching ErrStreamDamaged. l may be nil.
func (v *Verifier) Finish(ctx context.Context, l Ledger, head uint64) error {
	d := &v.dmg
	if v.Contiguous && v.lastPos < head && !d.unreadable(v.lastPos+1, head) {
		return &BrokenLinkError{Position: v.lastPos + 1, Reason: fmt.Sprintf(
			"events %d to %d are missing at the end of the ledger (head is %d)", v.lastPos+1, head, head)}
	}
	// Runs of revisions that could lie at several positions.
	for _, run := range d.runs {
		if len(run.revs) == 0 {
			continue
		}
		if cand := d.open(run.before, run.after); len(cand) == len(run.revs) {
			for i, r := range cand {
				r.stream, r.revision = run.stream, run.revs[i]
			}
			continue
		}
		d.askStream(ctx, l, run.stream)
	}
	// Records no chain claimed: the last ones of their streams.
	if len(d.open(0, 0)) > 0 && l != nil {
		if sc, ok := l.(StoredCounter); ok {
			if counts, err := sc.StoredCounts(ctx); err == nil {
				for stream, n := range counts {
					if n > v.heads[stream].Revision {
						d.askStream(ctx, l, stream)
					}
				}
			}
		}
	}
	v.report.Repaired = nil
	var first *unreadableRec
	for _, r := range d.recs {
		if r.repair != nil {
			v.report.Repaired = append(v.report.Repaired, *r.repair)
		} else if first == nil {
			first = r
		}
	}
	if first != nil {
		return damagedLink(first)
	}
	return nil
}

// askStream reads stream through l: a *DamagedError names its unreadable
// records' positions.
func (d *damageBook) askStream(ctx context.Context, l Ledger, stream string) {
	if l == nil {
		return
	}
	_, err := l.Read(ctx, stream, 1)
	var de *DamagedError
	if !errors.As(err, &de) {
		return
	}
	for _, rec := range de.Records {
		if r := d.byPos[rec.Position]; r != nil && r.stream == "" {
			r.stream, r.revision = stream, rec.Revision
		}
	}
}

// firstBefore is the first unrepaired unreadable record before pos.
func (d *damageBook) firstBefore(pos uint64) error {
	for _, r := range d.recs {
		if r.pos >= pos {
			break
		}
		if r.repair == nil {
			return damagedLink(r)
		}
	}
	return nil
}

func damagedLink(r *unreadableRec) *BrokenLinkError {
	b := &BrokenLinkError{Position: r.pos, Stream: r.stream, Revision: r.revision, Cause: ErrStreamDamaged}
	if r.stream == "" {
		b.Reason = "the stored record cannot be read (it fails its storage checksum) and its stream could not be told: " +
			"restore --data from a backup"
		return b
	}
	b.Reason = fmt.Sprintf("the stored record cannot be read (it fails its storage checksum): the event is lost unless a backup holds it; "+
		"restore --data from a backup, or record the loss: relais repair --stream %s --position %d --reason \"...\"", r.stream, r.pos)
	return b
}
