package reports

import (
	"math"
	"time"

	"github.com/relais-health/relais/events"
)

// used lists the event types the reports fold.
var used = map[string]bool{
	events.TypeEDVisitStarted: true, events.TypeEDVisitUpdated: true, events.TypeEDVisitEnded: true,
	events.TypeEDVisitCancelled: true, events.TypeHospitalAdmitted: true, events.TypeHospitalDischarged: true,
	events.TypePatientMerged: true, events.TypeClientRegistered: true, events.TypeClientEnrolled: true,
	events.TypeCaseClosed: true, events.TypeObjectiveAdded: true, events.TypeObjectiveMet: true,
	events.TypeObjectiveAbandoned: true,
}

// Visit flags.
const (
	fStarted    uint8 = 1 << iota // an ED registration (A04) was received
	fCancelled                    // the visit was cancelled (A11)
	fDischarged                   // the admitted patient was discharged
)

// visit is the compact record of one encounter (40 bytes).
type visit struct {
	ID       uint64 // events.VisitHash(facility, visit number)
	Arrived  int64  // Unix seconds of the ED arrival; 0 unknown
	Ended    int64  // left the ED without admission; 0 unknown
	Admitted int64  // admitted to hospital; 0 not admitted
	Reason   uint32 // index in state.Reasons; 0 none
	Category uint16 // index in state.Categories; 0 none
	Flags    uint8
}

// counted reports whether the visit is an ED visit that happened.
func (v *visit) counted() bool { return v.Flags&fStarted != 0 && v.Flags&fCancelled == 0 }

// edSeconds is the time spent in the ED (to admission, or to leaving),
// 0 while unknown.
func (v *visit) edSeconds() int64 {
	end := v.Ended
	if v.Admitted != 0 {
		end = v.Admitted
	}
	if v.Arrived == 0 || end <= v.Arrived {
		return 0
	}
	return end - v.Arrived
}

// patient is everything kept about one patient key.
type patient struct {
	// Client is the Relais client the key belongs to, when known.
	Client string
	// Ident is the hospital identifier, kept for non-clients only (the
	// archivist's list names them).
	Ident  *events.Identifier
	Visits []visit
}

type span struct {
	From int64 `json:"from"`
	To   int64 `json:"to,omitempty"` // 0: still enrolled
}

type objective struct {
	Added int64 `json:"added"`
	Met   int64 `json:"met,omitempty"`
	Ended int64 `json:"ended,omitempty"` // met or abandoned
}

// client is a Relais client's enrolment history and objectives.
type client struct {
	Programme  string               `json:"programme,omitempty"`
	Enrolments []span               `json:"enrolments,omitempty"`
	Objectives map[string]objective `json:"objectives,omitempty"`
}

// enrolledAt reports whether the client was enrolled at Unix second t.
func (c *client) enrolledAt(t int64) bool {
	for _, s := range c.Enrolments {
		if s.From <= t && (s.To == 0 || t < s.To) {
			return true
		}
	}
	return false
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (s *state) apply(pl events.Payload, occurred time.Time) {
	if x := encounterOf(pl); x != nil {
		s.encounter(pl.EventType(), x)
		return
	}
	switch v := pl.(type) {
	case *events.PatientMerged:
		s.merge(v)
	case *events.ClientRegistered:
		for _, k := range v.PatientKeys {
			s.link(s.patient(s.Aliases.Resolve(k)), v.ClientID)
		}
	default:
		s.applyClient(pl, unix(occurred))
	}
}

// encounter folds an encounter event of type typ.
func (s *state) encounter(typ string, x *encounter) {
	pt := s.patientOf(x.key)
	if len(x.client) > 0 {
		s.linkBytes(pt, x.client)
	} else if x.ident && pt.Client == "" {
		if pt.Ident == nil || pt.Ident.Authority != string(x.authority) || pt.Ident.Value != string(x.value) {
			pt.Ident = &events.Identifier{Authority: s.internBytes(x.authority), Value: string(x.value)}
		}
	}
	var v *visit
	switch typ {
	case events.TypeEDVisitStarted:
		r, c := s.reason(x.reason), s.category(x.category)
		v = pt.visit(x.facility, x.number)
		v.Arrived, v.Reason, v.Category = x.at, r, c
		v.Flags |= fStarted
	case events.TypeEDVisitUpdated:
		r, c := s.reason(x.reason), s.category(x.category)
		v = pt.visit(x.facility, x.number)
		if r != 0 {
			v.Reason = r
		}
		if c != 0 {
			v.Category = c
		}
	case events.TypeEDVisitEnded:
		pt.visit(x.facility, x.number).Ended = x.at
	case events.TypeHospitalAdmitted:
		pt.visit(x.facility, x.number).Admitted = x.at
	case events.TypeHospitalDischarged:
		pt.visit(x.facility, x.number).Flags |= fDischarged
	case events.TypeEDVisitCancelled:
		cancel(pt.visit(x.facility, x.number), string(x.trigger))
	}
}

// cancel applies an A11 or A13 as the client file does: A13 cancels the
// discharge, A11 the admission of a patient still in hospital, otherwise
// the ED visit.
func cancel(x *visit, trigger string) {
	switch {
	case trigger == "A13":
		x.Ended = 0
		x.Flags &^= fDischarged
	case x.Admitted != 0 && x.Flags&fDischarged == 0:
		x.Admitted = 0
	default:
		x.Flags |= fCancelled
	}
}

func (s *state) applyClient(pl events.Payload, at int64) {
	switch v := pl.(type) {
	case *events.ClientEnrolled:
		c := s.client(v.ClientID)
		if n := len(c.Enrolments); n > 0 && c.Enrolments[n-1].To == 0 {
			return // already enrolled
		}
		if c.Programme == "" {
			c.Programme = v.Programme
		}
		c.Enrolments = append(c.Enrolments, span{From: unix(v.EnrolledAt)})
	case *events.CaseClosed:
		c := s.client(v.ClientID)
		if n := len(c.Enrolments); n > 0 && c.Enrolments[n-1].To == 0 {
			c.Enrolments[n-1].To = max(at, c.Enrolments[n-1].From+1)
		}
	case *events.ObjectiveAdded:
		c := s.client(v.ClientID)
		if c.Objectives == nil {
			c.Objectives = map[string]objective{}
		}
		if _, ok := c.Objectives[v.ObjectiveID]; !ok {
			c.Objectives[v.ObjectiveID] = objective{Added: at}
		}
	case *events.ObjectiveMet:
		c := s.client(v.ClientID)
		if o, ok := c.Objectives[v.ObjectiveID]; ok && o.Ended == 0 {
			o.Met, o.Ended = at, at
			c.Objectives[v.ObjectiveID] = o
		}
	case *events.ObjectiveAbandoned:
		c := s.client(v.ClientID)
		if o, ok := c.Objectives[v.ObjectiveID]; ok && o.Ended == 0 {
			o.Ended = at
			c.Objectives[v.ObjectiveID] = o
		}
	}
}

// visit finds (or starts) the encounter in the patient's history.
func (pt *patient) visit(facility, number []byte) *visit {
	id := events.VisitHash(facility, number)
	for i := len(pt.Visits) - 1; i >= 0; i-- {
		if pt.Visits[i].ID == id {
			return &pt.Visits[i]
		}
	}
	pt.Visits = append(pt.Visits, visit{ID: id})
	return &pt.Visits[len(pt.Visits)-1]
}

// link records that the patient is a client; a client's hospital
// identifier is no longer kept here.
func (s *state) link(pt *patient, clientID string) {
	if pt.Client != clientID {
		pt.Client = clientID
	}
	pt.Ident = nil
}

// linkBytes is link without copying clientID when it is already recorded.
func (s *state) linkBytes(pt *patient, clientID []byte) {
	if pt.Client != string(clientID) {
		pt.Client = string(clientID)
	}
	pt.Ident = nil
}

// merge moves the merged key's history to the surviving key.
func (s *state) merge(m *events.PatientMerged) {
	survivor := s.Aliases.Merge(m.MergedKey, m.SurvivingKey)
	if m.MergedKey == survivor {
		return
	}
	sp := s.patient(survivor)
	if mp, ok := s.Patients[m.MergedKey]; ok {
		sp.Visits = append(sp.Visits, mp.Visits...)
		if sp.Client == "" {
			sp.Client = mp.Client
		}
		if sp.Ident == nil {
			sp.Ident = mp.Ident
		}
		delete(s.Patients, m.MergedKey)
	}
	switch {
	case m.SurvivingClient != "":
		sp.Client = m.SurvivingClient
	case sp.Client == "":
		sp.Client = m.MergedClient
	}
	if sp.Client != "" {
		sp.Ident = nil
	}
}

func (s *state) client(id string) *client {
	c, ok := s.Clients[id]
	if !ok {
		c = &client{}
		s.Clients[id] = c
	}
	return c
}

func (s *state) patient(key string) *patient {
	pt, ok := s.Patients[key]
	if !ok {
		pt = &patient{}
		s.Patients[key] = pt
	}
	return pt
}

// patientOf is patient(resolve(key)) without copying key unless a new
// patient is recorded under it.
func (s *state) patientOf(key []byte) *patient {
	if standing, merged := s.Aliases.ResolveBytes(key); merged {
		return s.patient(standing)
	}
	if pt, ok := s.Patients[string(key)]; ok {
		return pt
	}
	return s.patient(string(key))
}

// reason interns a reason text.
func (s *state) reason(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	if i, ok := s.reasonIdx[string(b)]; ok {
		return i
	}
	if len(s.Reasons) >= math.MaxUint32 {
		return 0
	}
	r := string(b)
	i := uint32(len(s.Reasons))
	s.Reasons = append(s.Reasons, r)
	s.reasonIdx[r] = i
	return i
}

// category interns a reason category; past 65,535 distinct categories new
// ones are recorded as none.
func (s *state) category(b []byte) uint16 {
	if len(b) == 0 {
		return 0
	}
	if i, ok := s.categoryIdx[string(b)]; ok {
		return i
	}
	if len(s.Categories) >= math.MaxUint16 {
		return 0
	}
	c := string(b)
	i := uint16(len(s.Categories))
	s.Categories = append(s.Categories, c)
	s.categoryIdx[c] = i
	return i
}

// intern shares one copy of a small repeated string (an authority).
func (s *state) intern(v string) string {
	if x, ok := s.strings[v]; ok {
		return x
	}
	s.strings[v] = v
	return v
}

// internBytes is intern without copying v when it is known.
func (s *state) internBytes(v []byte) string {
	if x, ok := s.strings[string(v)]; ok {
		return x
	}
	return s.intern(string(v))
}
