// Package edintake records hospital admission traffic in the ledger: ED
// registrations (A04), admissions (A01), discharges (A03), updates (A08),
// cancels (A11, A13) and merges (A40). It takes a Message, whatever wire it
// came on: the driving adapters map their format (HL7 v2 over MLLP, JSON
// over HTTP) to one. Patients are matched to clients by identifier;
// visits of people who are not clients are recorded under a pseudonymous
// key. A message is acknowledged only once its events are in the ledger,
// and a message sent again is recorded once: the event id is derived from
// the facility, the control id and the message's content, so a control id
// reused for another message is another event, never the same id twice.
// A message about a visit already recorded must name that visit's patient.
package edintake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// Message is one admission message, whatever its wire form.
type Message struct {
	// SendingApplication and SendingFacility name the sender; only
	// configured facilities (and applications) are accepted.
	SendingApplication string `json:"sending_application,omitempty"`
	SendingFacility    string `json:"facility"`
	// ControlID is unique per message of a sending facility: a message sent
	// again with the same one is recorded once.
	ControlID string `json:"control_id"`
	// Trigger is the ADT event: one of Supported is recorded, another ADT
	// trigger is received with nothing to record.
	Trigger string    `json:"trigger"`
	At      time.Time `json:"at"`
	// Identifiers are every identifier the hospital gave the patient, with
	// their assigning authority.
	Identifiers []events.Identifier `json:"identifiers"`
	// VisitNumber is the hospital's number for the visit (not for an A40).
	VisitNumber    string    `json:"visit_number,omitempty"`
	PatientClass   string    `json:"patient_class,omitempty"`
	Reason         string    `json:"reason,omitempty"`
	ReasonCategory string    `json:"reason_category,omitempty"`
	Unit           string    `json:"unit,omitempty"`
	AdmitTime      time.Time `json:"admit_time,omitzero"`
	DischargeTime  time.Time `json:"discharge_time,omitzero"`
	Disposition    string    `json:"disposition,omitempty"`
	// MergedIdentifiers are those of the record an A40 merged away.
	MergedIdentifiers []events.Identifier `json:"merged_identifiers,omitempty"`
	// VisitKeySource names where VisitNumber came from when it is not the
	// visit number (PV1-19): PV1-50, PID-18 or PV1-44 (the admit time,
	// then keyed with the patient too).
	VisitKeySource string `json:"visit_key_source,omitempty"`
	// Flags say what the sender sent that was not used, and why.
	Flags []string `json:"flags,omitempty"`
}

// ClientLookup finds the client a hospital identifier belongs to.
type ClientLookup interface {
	ClientByIdentifier(id events.Identifier) (clientID string, ok bool)
}

// Ledger is the slice of the ledger intake needs.
type Ledger interface {
	Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (ledger.Result, error)
	Read(ctx context.Context, stream string, from uint64) ([]events.Event, error)
}

// Config sets who may send and how patients are keyed.
type Config struct {
	// Facilities lists the accepted sending facilities; empty accepts
	// none, which is refused at start.
	Facilities []string
	// Applications, when not empty, restricts the sending application too.
	Applications []string
	// PatientSecret keys the pseudonymous patient keys.
	PatientSecret []byte
	// KeyAuthorities ranks the identifier authorities used for the patient
	// key (e.g. RAMQ before a hospital MRN); the first identifier otherwise.
	KeyAuthorities []string
	// TerritoryAuthorities name a person across the territory (default
	// RAMQ): an identifier of another authority is scoped by the sending
	// facility in patient keys and client look-ups, so two hospitals'
	// "MR 123" are two patients.
	TerritoryAuthorities []string
	Now                  func() time.Time
}

// Service records ADT messages.
type Service struct {
	l       Ledger
	clients ClientLookup
	cfg     Config
}

// New checks the configuration and returns the service.
func New(l Ledger, clients ClientLookup, cfg Config) (*Service, error) {
	if len(cfg.Facilities) == 0 {
		return nil, errors.New("ed intake: no sending facility configured")
	}
	if len(cfg.PatientSecret) < 16 {
		return nil, errors.New("ed intake: patient secret shorter than 16 bytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TerritoryAuthorities == nil {
		cfg.TerritoryAuthorities = []string{"RAMQ"}
	}
	return &Service{l: l, clients: clients, cfg: cfg}, nil
}

// Outcome is what recording a message did.
type Outcome struct {
	// Duplicate is true when the control id had already been recorded.
	Duplicate bool `json:"duplicate"`
	// Ignored is true for a message received with nothing to record (an
	// ADT trigger Relais does not follow, a transfer of a patient who is
	// not in the ED): nothing was appended.
	Ignored  bool   `json:"ignored,omitempty"`
	Stream   string `json:"stream"`
	Position uint64 `json:"position"`
	ClientID string `json:"client_id,omitempty"`
}

// Record validates m and appends its event. The returned error wraps
// ErrRefused (sender not accepted), ErrUnsupported, ErrMalformed or
// ErrPatientMismatch for what the sender must fix, or a ledger error;
// with an error nothing is recorded.
func (s *Service) Record(ctx context.Context, m Message, opts ...RecordOption) (Outcome, error) {
	from := sender{actor: FeedActor(m.SendingFacility)}
	for _, o := range opts {
		o(&from)
	}
	if err := s.accept(m, from.actor); err != nil {
		return Outcome{}, err
	}
	if ignored(m.Trigger) {
		return Outcome{Ignored: true}, nil
	}
	if m.VisitKeySource == "PV1-44" {
		// An admit time alone does not tell two patients apart.
		_, key := s.patientKey(m.SendingFacility, m.Identifiers)
		m.VisitNumber += "/" + key[:min(len(key), 16)]
	}
	stream := streamOf(m)
	out := Outcome{Stream: stream}
	id, legacy := eventID(m), events.DeriveID("hl7", m.SendingFacility, m.ControlID)
	res, err := ledger.Update(ctx, s.l, stream, func(history []events.Event) ([]events.Event, error) {
		out.Duplicate = false
		for _, h := range history {
			// legacy: the id builds before content-derived ids gave a
			// control id; such a message sent again is the same one.
			if h.ID == id || h.ID == legacy {
				out.Duplicate, out.Position = true, h.Position
				out.ClientID = s.client(m.SendingFacility, m.Identifiers)
				return nil, nil
			}
		}
		if err := s.samePatient(ctx, m, history); err != nil {
			return nil, err
		}
		admitted := false
		for _, h := range history {
			admitted = admitted || h.Type == events.TypeHospitalAdmitted
		}
		if m.Trigger == "A02" && (!edStayOpen(history) || m.PatientClass == "E") {
			out.Ignored, out.ClientID = true, s.client(m.SendingFacility, m.Identifiers)
			return nil, nil
		}
		out.Ignored = false
		e, clientID, err := s.toEvent(m, admitted, id, from)
		if err != nil {
			return nil, err
		}
		out.ClientID = clientID
		return []events.Event{e}, nil
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("record %s %s: %w", m.SendingFacility, m.ControlID, err)
	}
	if !out.Duplicate && !out.Ignored {
		out.Position = res.Position
	}
	return out, nil
}

// eventID derives the event id from the facility, the control id and a
// digest of everything the message says: the same message sent again gets
// the same id (recorded once), a control id reused for another message
// gets another one.
func eventID(m Message) string {
	m.At, m.AdmitTime, m.DischargeTime = m.At.UTC(), m.AdmitTime.UTC(), m.DischargeTime.UTC()
	b, err := json.Marshal(m)
	if err != nil {
		// A Message is strings, times and identifiers: it always marshals.
		panic(fmt.Sprintf("edintake: marshal message: %v", err))
	}
	sum := sha256.Sum256(b)
	return events.DeriveID("hl7", m.SendingFacility, m.ControlID, hex.EncodeToString(sum[:]))
}

func (s *Service) accept(m Message, actor events.Actor) error {
	if !slices.Contains(s.cfg.Facilities, m.SendingFacility) {
		return fmt.Errorf("%w: sending facility %q is not configured", ErrRefused, m.SendingFacility)
	}
	if actor.Role == events.RoleSystem && !BoundFacility(actor.ID, m.SendingFacility) {
		return fmt.Errorf("%w: system account %q does not speak for facility %q (only hl7-%s does)",
			ErrRefused, actor.ID, m.SendingFacility, strings.ToLower(m.SendingFacility))
	}
	if len(s.cfg.Applications) > 0 && !slices.Contains(s.cfg.Applications, m.SendingApplication) {
		return fmt.Errorf("%w: sending application %q is not configured", ErrRefused, m.SendingApplication)
	}
	if !slices.Contains(Supported, m.Trigger) && !ignored(m.Trigger) {
		return fmt.Errorf("%w: trigger event %q is not an ADT event; recorded: %s", ErrUnsupported, m.Trigger, strings.Join(Supported, " "))
	}
	switch {
	case m.ControlID == "":
		return fmt.Errorf("%w: control id missing", ErrMalformed)
	case ignored(m.Trigger):
	case len(m.Identifiers) == 0:
		return fmt.Errorf("%w: no patient identifier", ErrMalformed)
	case !merge(m.Trigger) && m.VisitNumber == "":
		return fmt.Errorf("%w: visit number missing", ErrMalformed)
	case merge(m.Trigger) && len(m.MergedIdentifiers) == 0:
		return fmt.Errorf("%w: merged patient identifier missing", ErrMalformed)
	}
	return nil
}

// patientKey picks the identifier that keys the patient, and keys it
// scoped by facility (see scoped).
func (s *Service) patientKey(facility string, ids []events.Identifier) (events.Identifier, string) {
	chosen := ids[0]
	for _, a := range s.cfg.KeyAuthorities {
		if i := slices.IndexFunc(ids, func(id events.Identifier) bool { return id.Authority == a }); i >= 0 {
			chosen = ids[i]
			break
		}
	}
	return chosen, events.PatientKey(s.cfg.PatientSecret, s.scoped(facility, chosen))
}

// scoped is the identifier as Relais keys it: one of a territory-wide
// authority (RAMQ) or of the sending facility's own name as it is, any
// other prefixed by the facility that sent it ("HSTA/MR"), since a
// hospital's own numbers mean nothing elsewhere. A client registered with
// "HSTA/MR" or "HSTA" as authority therefore has the patient keys and the
// identifiers its HSTA visits name. Keys from before this scoping (issue
// 12) are still recognised as the visit's patient (keys, in patient.go).
func (s *Service) scoped(facility string, id events.Identifier) events.Identifier {
	if id.Authority == facility || slices.Contains(s.cfg.TerritoryAuthorities, id.Authority) {
		return id
	}
	return events.Identifier{Authority: facility + "/" + id.Authority, Value: id.Value}
}

// client finds the client among all of the patient's identifiers, each as
// it is scoped.
func (s *Service) client(facility string, ids []events.Identifier) string {
	for _, id := range ids {
		if c, ok := s.clients.ClientByIdentifier(s.scoped(facility, id)); ok {
			return c
		}
	}
	return ""
}

func streamOf(m Message) string {
	if merge(m.Trigger) {
		return events.FeedStream(m.SendingFacility)
	}
	return events.VisitStream(m.SendingFacility, m.VisitNumber)
}

// toEvent maps the message to its event; admitted tells whether the visit
// already has an admission (an A03 then discharges from hospital).
func (s *Service) toEvent(m Message, admitted bool, id string, from sender) (events.Event, string, error) {
	at := m.At
	if at.IsZero() {
		at = s.cfg.Now().UTC()
	}
	// The "hl7" names are stored, not wire logic: the derived event id is
	// what makes a message sent again be recorded once, across versions,
	// and the feed's actor id (hl7-<facility>) is who projections show as
	// the feed.
	actor := from.actor
	opts := []events.Option{
		events.WithID(id),
		events.WithSource(m.SendingFacility, m.ControlID),
		events.WithConnection(from.remote, from.certificate),
		events.WithOccurredAt(at),
	}
	ident, key := s.patientKey(m.SendingFacility, m.Identifiers)
	clientID := s.client(m.SendingFacility, m.Identifiers)
	if merge(m.Trigger) {
		_, mkey := s.patientKey(m.SendingFacility, m.MergedIdentifiers)
		p := &events.PatientMerged{Facility: m.SendingFacility, SurvivingKey: key, MergedKey: mkey,
			SurvivingClient: clientID, MergedClient: s.client(m.SendingFacility, m.MergedIdentifiers)}
		e, err := events.New(p, actor, opts...)
		if err != nil {
			return events.Event{}, "", fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return e, clientID, nil
	}
	v := events.Visit{ClientID: clientID, PatientKey: key, Facility: m.SendingFacility, VisitNumber: m.VisitNumber,
		VisitKeySource: m.VisitKeySource, Flags: m.Flags}
	if clientID == "" {
		// Not a client: the identifier is kept for the archivist's list only.
		v.Identifier = &ident
	}
	var p events.Payload
	switch m.Trigger {
	case "A04":
		arrived := m.AdmitTime
		if arrived.IsZero() {
			arrived = at
		}
		p = &events.EDVisitStarted{Visit: v, ArrivedAt: arrived, Reason: m.Reason, ReasonCategory: m.ReasonCategory}
	case "A08":
		p = &events.EDVisitUpdated{Visit: v, Reason: m.Reason, ReasonCategory: m.ReasonCategory}
	case "A02":
		// A transfer out of the ED (Record checked the stay is open): the
		// ED stay ends, the patient is elsewhere in the hospital.
		p = &events.EDVisitEnded{Visit: v, EndedAt: at, Disposition: "transfer"}
	case "A01", "A06":
		admitted := m.AdmitTime
		if admitted.IsZero() {
			admitted = at
		}
		p = &events.HospitalAdmitted{Visit: v, AdmittedAt: admitted, Unit: m.Unit}
	case "A03":
		ended := m.DischargeTime
		if ended.IsZero() {
			ended = at
		}
		if admitted || m.PatientClass == "I" {
			p = &events.HospitalDischarged{Visit: v, DischargedAt: ended, Disposition: m.Disposition}
		} else {
			p = &events.EDVisitEnded{Visit: v, EndedAt: ended, Disposition: m.Disposition}
		}
	case "A11", "A13":
		p = &events.EDVisitCancelled{Visit: v, Trigger: m.Trigger, Reason: m.Reason}
	}
	e, err := events.New(p, actor, opts...)
	if err != nil {
		return events.Event{}, "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return e, clientID, nil
}
