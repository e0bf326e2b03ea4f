package events

// TypeRecordDamaged is the event `relais repair` appends to a stream whose
// stored record at a position cannot be read (it failed its storage
// checksum): the loss, recorded and audited, so the stream takes new events
// again and verify reports the record as repaired instead of broken.
const TypeRecordDamaged = "ledger.record_damaged"

// RecordDamaged: an operator recorded that the event of this stream at
// Position (its Revision) is unreadable and cannot be restored. The
// envelope's actor is the operator; the event itself is sealed like every
// other, so the repair is as tamper-evident as the history around it.
type RecordDamaged struct {
	// Position is the global position of the unreadable record.
	Position uint64 `json:"position"`
	// Revision is its revision in this stream.
	Revision uint64 `json:"revision"`
	// Reason is the operator's account: what happened, what was done
	// (e.g. "disk error on 2026-12-01; no backup holds it; ticket 4411").
	Reason string `json:"reason"`
}

func (RecordDamaged) EventType() string { return TypeRecordDamaged }
func (p RecordDamaged) Validate() error {
	var c check
	if p.Position == 0 {
		c.fail("position", "required (the global position of the unreadable record)")
	}
	if p.Revision == 0 {
		c.fail("revision", "required (the unreadable record's revision in its stream)")
	}
	c.required("reason", p.Reason, 1000)
	return c.result()
}

func init() { Register(1, func() Payload { return &RecordDamaged{} }) }
