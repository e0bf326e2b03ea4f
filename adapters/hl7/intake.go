package hl7

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/services/edintake"
)

// NothingToDo is MSA-3 of the AA answering an ADT message Relais receives
// and has nothing to record for.
const NothingToDo = "received, nothing to do"

// Intake answers MLLP messages: AA once the message's event is durably
// in the ledger (or was already), or for an ADT trigger Relais has
// nothing to record for ("received, nothing to do", counted); AE for a
// malformed message, one whose patient is not the visit's, or a ledger
// that cannot write now (the sender retries); AR for a sender or message
// type that is not accepted — among them a facility (MSH-4) that is not
// accepted from the connection the message came on (Sources), a message
// that is not ADT, and a batch.
type Intake struct {
	S          *edintake.Service
	Sources    Sources
	Facilities *Facilities // per-facility charset, time zone, visit keys (nil: defaults)
	Log        *zap.Logger
	Now        func() time.Time
	Metrics    *Metrics // nil: not counted
}

// Handle answers one message that came on peer. It parses the message
// once: the ACK is built from the header that parse read, also when the
// rest was malformed. The event recorded keeps the peer's address and
// certificate subject in its source.
func (h *Intake) Handle(ctx context.Context, peer Peer, raw []byte) []byte {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	adt, err := ParseADT(raw, h.Facilities)
	if err == nil {
		err = h.Sources.Allow(adt.SendingFacility.Namespace, peer)
	}
	if err == nil {
		var out edintake.Outcome
		out, err = h.S.Record(ctx, FromADT(adt), edintake.Via(peer.Remote(), peer.Subject()))
		if err == nil {
			outcome, text := "recorded", ""
			switch {
			case out.Ignored:
				outcome, text = "nothing_to_do", NothingToDo
			case out.Duplicate:
				outcome = "duplicate"
			}
			h.Metrics.count(adt.Trigger, AA, outcome)
			h.Log.Debug("hl7 answered", zap.String("facility", adt.SendingFacility.Namespace), zap.String("control_id", adt.ControlID),
				zap.String("trigger", adt.Trigger), zap.String("outcome", outcome), zap.String("visit_key", adt.VisitKeySource),
				zap.Uint64("position", out.Position))
			return BuildACK(adt.Header, AA, text, nil, now())
		}
	}
	code := AE
	if errors.Is(err, ErrUnsupported) || errors.Is(err, ErrSource) || errors.Is(err, edintake.ErrUnsupported) || errors.Is(err, edintake.ErrRefused) {
		code = AR
	}
	h.Metrics.count(adt.Trigger, code, "refused")
	h.Log.Warn("hl7 not accepted", zap.String("remote", peer.Remote()), zap.String("certificate", peer.Subject()), zap.String("facility", adt.SendingFacility.Namespace),
		zap.String("control_id", adt.ControlID), zap.String("ack", code), zap.Error(err))
	return BuildACK(adt.Header, code, "", err, now())
}

// Metrics counts the messages answered, by trigger, ACK code and outcome
// (recorded, duplicate, nothing_to_do, refused).
type Metrics struct{ answered *prometheus.CounterVec }

// NewMetrics returns the intake's counters; register them with Collectors.
func NewMetrics() *Metrics {
	return &Metrics{answered: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "relais_hl7_messages_total",
		Help: "HL7 messages answered over MLLP, by trigger event, ACK code and outcome (recorded, duplicate, nothing_to_do, refused).",
	}, []string{"trigger", "ack", "outcome"})}
}

// Collectors are what to register.
func (m *Metrics) Collectors() []prometheus.Collector { return []prometheus.Collector{m.answered} }

func (m *Metrics) count(trigger, ack, outcome string) {
	if m == nil {
		return
	}
	if len(trigger) > 3 || strings.ContainsFunc(trigger, func(r rune) bool { return r < '0' || r > 'Z' }) {
		trigger = "other" // a label per garbage trigger would grow without bound
	}
	m.answered.WithLabelValues(trigger, ack, outcome).Inc()
}

// FromADT maps a parsed ADT message to an intake message: MSH-3.1 and
// MSH-4.1 name the sender, MSH-10 is the control id, PID-3 (every
// repetition) the identifiers, the visit key the visit (see ParseADT),
// PV1-3.1 the unit, PV2-3 the reason, MRG-1 what an A34/A40 merged away.
func FromADT(a ADT) edintake.Message {
	at := a.EventTime
	if at.IsZero() {
		at = a.MessageTime
	}
	m := edintake.Message{
		SendingApplication: a.SendingApplication.Namespace, SendingFacility: a.SendingFacility.Namespace, ControlID: a.ControlID,
		Trigger: a.Trigger, At: at.UTC(), VisitNumber: a.VisitKey, PatientClass: a.PatientClass,
		Reason: strings.TrimSpace(a.ReasonText), ReasonCategory: reasonCategory(a.ReasonCode), Unit: a.Location,
		AdmitTime: a.AdmitTime.UTC(), DischargeTime: a.DischargeTime.UTC(), Disposition: a.Disposition,
	}
	if a.VisitKeySource != KeyVisitNumber {
		m.VisitKeySource = a.VisitKeySource
	}
	for _, f := range a.Flags {
		if len(f) > 200 {
			f = strings.ToValidUTF8(f[:200], "")
		}
		m.Flags = append(m.Flags, f)
	}
	if at.IsZero() {
		m.At = time.Time{}
	}
	if a.AdmitTime.IsZero() {
		m.AdmitTime = time.Time{}
	}
	if a.DischargeTime.IsZero() {
		m.DischargeTime = time.Time{}
	}
	for _, id := range a.Identifiers {
		m.Identifiers = append(m.Identifiers, events.Identifier{Authority: authority(id), Value: id.Value})
	}
	for _, id := range a.Merged {
		m.MergedIdentifiers = append(m.MergedIdentifiers, events.Identifier{Authority: authority(id), Value: id.Value})
	}
	return m
}

func authority(id CX) string {
	if id.Authority != "" {
		return id.Authority
	}
	if id.Type != "" {
		return id.Type
	}
	return "UNKNOWN"
}

// reasonCategory classifies an ICD-10 reason code for reports: chapter O is
// pregnancy, childbirth and the puerperium.
func reasonCategory(code string) string {
	c := strings.ToUpper(strings.TrimSpace(code))
	switch {
	case c == "":
		return ""
	case strings.HasPrefix(c, "O"):
		return "obstetric"
	case strings.HasPrefix(c, "F1"):
		return "addiction"
	case strings.HasPrefix(c, "F"):
		return "mental_health"
	case strings.HasPrefix(c, "J"):
		return "respiratory"
	case strings.HasPrefix(c, "I"):
		return "cardio"
	}
	return "other"
}
