package alerts

import (
	"strconv"
	"time"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/events/consent"
)

// client is what the rules know of a client.
type client struct {
	name       string
	programmes map[string]bool
	enrolled   string // programme
	closed     bool
	consents   consent.Consents // decided on by the one consent rule
	cm, pivot  string
	doctor     string // family doctor partner
	referrals  map[string]*referral
	objectives map[string]string // objective id -> responsible partner
}

type referral struct {
	partner, category, state string
}

// consented reports whether a consent for category is in force (what a
// case manager's summary says of the family); whether one partner may
// receive something is allows.
func (c *client) consented(category string) bool { return c.consents.InForce(category) }

func (c *client) programme() string {
	if c.enrolled != "" {
		return c.enrolled
	}
	for p := range c.programmes {
		return p
	}
	return ""
}

// thread is one hospital encounter and who was alerted of it.
type thread struct {
	id, facility, visit  string
	clientID, patientKey string
	reason               string
	status               string
	alerts               []string // alert ids raised for this thread
	// arrivalReason is the reason the arrival alerts told; correctedAt,
	// when the hospital last corrected it (zero: never).
	arrivalReason string
	correctedAt   time.Time
}

type feed struct {
	lastSeen time.Time
	lastPos  uint64
	lastCtl  uint64
}

// state is the fold the rules read.
type state struct {
	clients  map[string]*client
	partners map[string]string // partner id -> category
	webhooks map[string]string // partner id -> webhook URL
	roles    map[string][]string
	threads  map[string]*thread
	byKey    map[string][]string // patient key -> thread ids
	feeds    map[string]*feed
}

func newState() *state {
	return &state{clients: map[string]*client{}, partners: map[string]string{}, webhooks: map[string]string{}, roles: map[string][]string{},
		threads: map[string]*thread{}, byKey: map[string][]string{}, feeds: map[string]*feed{}}
}

func (s *state) client(id string) *client {
	c, ok := s.clients[id]
	if !ok {
		c = &client{programmes: map[string]bool{}, consents: consent.Consents{}, referrals: map[string]*referral{}, objectives: map[string]string{}}
		s.clients[id] = c
	}
	return c
}

// peek returns what the state knows of a client without adding it: the
// rules only read (a client never seen is the zero client).
func (s *state) peek(id string) *client {
	if c, ok := s.clients[id]; ok {
		return c
	}
	return &client{}
}

// threadID names a visit thread.
func threadID(facility, visit string) string { return events.DeriveID("thread", facility, visit) }

// fold applies one event to the state; the rules ran before it, on the
// state as it was.
func (s *state) fold(e events.Event) {
	p, err := e.Payload()
	if err != nil {
		return
	}
	switch v := p.(type) {
	case *events.StaffRegistered:
		s.roles[v.Role] = appendUnique(s.roles[v.Role], v.StaffID)
	case *events.PartnerRegistered:
		s.partners[v.PartnerID] = v.Category
		s.webhooks[v.PartnerID] = v.WebhookURL
	case *events.ClientRegistered:
		s.client(v.ClientID).name = v.GivenName + " " + v.FamilyName
	case *events.ClientFlagged:
		s.client(v.ClientID).programmes[v.Programme] = true
	case *events.ClientUnflagged:
		delete(s.client(v.ClientID).programmes, v.Programme)
	case *events.ClientEnrolled:
		c := s.client(v.ClientID)
		c.enrolled = v.Programme
		c.closed = false
		c.consents.Apply(v)
	case *events.CaseClosed:
		s.client(v.ClientID).closed = true
	case *events.ConsentGranted:
		c := s.client(v.ClientID)
		c.consents.Apply(v)
		if v.Category == events.CategoryDoctor && v.PartnerID != "" {
			c.doctor = v.PartnerID
		}
	case *events.ConsentRevoked:
		s.client(v.ClientID).consents.Apply(v)
	case *events.CaseManagerAssigned:
		s.client(v.ClientID).cm = v.StaffID
	case *events.PivotWorkerAssigned:
		s.client(v.ClientID).pivot = v.StaffID
	case *events.AssessmentCompleted:
		c := s.client(v.ClientID)
		for _, m := range v.SupportNetwork {
			if m.Category == events.CategoryDoctor && m.PartnerID != "" && c.doctor == "" {
				c.doctor = m.PartnerID
			}
		}
	case *events.DoctorConfirmed:
		// Only a doctor the consent covers becomes the family doctor (a
		// confirmation recorded before the rule was enforced on writes
		// makes no one a recipient).
		if c := s.client(v.ClientID); v.Confirmed() && s.allows(c, v.DoctorID, events.CategoryDoctor, consent.PurposeConfirmPatient) {
			c.doctor = v.DoctorID
		}
	case *events.ReferralSent:
		s.client(v.ClientID).referrals[v.ReferralID] = &referral{partner: v.PartnerID, category: v.Category, state: "sent"}
	case *events.ReferralAccepted:
		s.setReferral(v.ClientID, v.ReferralID, "accepted")
	case *events.ReferralDeclined:
		s.setReferral(v.ClientID, v.ReferralID, "declined")
	case *events.ReferralCompleted:
		s.setReferral(v.ClientID, v.ReferralID, "completed")
	case *events.ObjectiveAdded:
		s.client(v.ClientID).objectives[v.ObjectiveID] = v.ResponsiblePartner
	case *events.EDVisitStarted:
		t := s.thread(v.Visit)
		t.reason, t.arrivalReason, t.status = v.Reason, v.Reason, "arrived"
	case *events.EDVisitUpdated:
		t := s.thread(v.Visit)
		if v.Reason != "" && v.Reason != t.reason {
			t.reason, t.correctedAt = v.Reason, e.OccurredAt
		}
		t.status = "updated"
	case *events.HospitalAdmitted:
		s.thread(v.Visit).status = "admitted"
	case *events.EDVisitEnded:
		s.thread(v.Visit).status = "ended"
	case *events.HospitalDischarged:
		s.thread(v.Visit).status = "discharged"
	case *events.EDVisitCancelled:
		t := s.thread(v.Visit)
		switch {
		case v.Trigger == "A13":
			t.status = "discharge cancelled"
		case t.status == "admitted":
			t.status = "admission cancelled"
		default:
			t.status = "cancelled"
		}
	case *events.PatientMerged:
		for _, id := range s.byKey[v.MergedKey] {
			t := s.threads[id]
			t.patientKey = v.SurvivingKey
			if v.SurvivingClient != "" {
				t.clientID = v.SurvivingClient
			}
			s.byKey[v.SurvivingKey] = appendUnique(s.byKey[v.SurvivingKey], id)
		}
		delete(s.byKey, v.MergedKey)
	}
	if e.Source.System != "" && isHospitalEvent(e.Type) {
		f := s.feeds[e.Source.System]
		if f == nil {
			f = &feed{}
			s.feeds[e.Source.System] = f
		}
		f.lastSeen, f.lastPos = e.RecordedAt, e.Position
		if n, err := strconv.ParseUint(e.Source.MessageID, 10, 64); err == nil && n > f.lastCtl {
			f.lastCtl = n
		}
	}
}

// allows is the one consent rule for a recipient: partnerID is a partner
// of category in the directory, and the client's consent covers it for
// purpose.
func (s *state) allows(c *client, partnerID, category string, purpose consent.Purpose) bool {
	return s.partners[partnerID] == category && c.consents.Allows(partnerID, category, purpose)
}

// mayReceive reports whether an alert's recipient may receive purpose
// about its client now: staff always; a partner only while the client's
// consent covers it.
func (s *state) mayReceive(a *Alert, purpose consent.Purpose) bool {
	cat, partner := s.partners[a.RecipientID]
	if !partner {
		return true
	}
	return a.ClientID != "" && s.allows(s.peek(a.ClientID), a.RecipientID, cat, purpose)
}

func (s *state) setReferral(clientID, refID, st string) {
	if r, ok := s.client(clientID).referrals[refID]; ok {
		r.state = st
	}
}

func (s *state) thread(v events.Visit) *thread {
	id := threadID(v.Facility, v.VisitNumber)
	t, ok := s.threads[id]
	if !ok {
		t = &thread{id: id, facility: v.Facility, visit: v.VisitNumber, patientKey: v.PatientKey}
		s.threads[id] = t
		s.byKey[v.PatientKey] = appendUnique(s.byKey[v.PatientKey], id)
	}
	if v.ClientID != "" {
		t.clientID = v.ClientID
	}
	return t
}

func isHospitalEvent(t string) bool {
	switch t {
	case events.TypeEDVisitStarted, events.TypeEDVisitUpdated, events.TypeEDVisitEnded, events.TypeEDVisitCancelled,
		events.TypeHospitalAdmitted, events.TypeHospitalDischarged, events.TypePatientMerged:
		return true
	}
	return false
}

func appendUnique(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
