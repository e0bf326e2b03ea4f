package edintake

import (
	"context"
	"errors"
	"fmt"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// samePatient checks that a message about a visit already in the ledger
// names that visit's patient: one of its identifiers keys to the patient
// the visit was started with, or it belongs to the same client, or the
// facility merged the visit's patient into the message's (A40). Otherwise
// a sender could cancel (A11, A13) or rewrite (A08) another person's visit
// by its number alone.
func (s *Service) samePatient(ctx context.Context, m Message, history []events.Event) error {
	if m.Trigger == "A40" {
		return nil
	}
	v, ok := firstVisit(history)
	if !ok {
		return nil // the visit's first message: nothing to match yet
	}
	keys := s.keys(m.SendingFacility, m.Identifiers)
	if keys[v.PatientKey] || v.ClientID != "" && s.client(m.SendingFacility, m.Identifiers) == v.ClientID {
		return nil
	}
	merged, err := s.mergedInto(ctx, m.SendingFacility, v.PatientKey, keys)
	if err != nil {
		return err
	}
	if merged {
		return nil
	}
	return fmt.Errorf("%w: PID-3 of %s %s names none of the identifiers visit %s was started with",
		ErrPatientMismatch, m.Trigger, m.ControlID, m.VisitNumber)
}

// keys are the patient keys the identifiers can have: scoped by facility,
// and, for visits and merges recorded before keys were scoped, unscoped.
func (s *Service) keys(facility string, ids []events.Identifier) map[string]bool {
	keys := map[string]bool{}
	for _, id := range ids {
		keys[events.PatientKey(s.cfg.PatientSecret, s.scoped(facility, id))] = true
		keys[events.PatientKey(s.cfg.PatientSecret, id)] = true // legacy
	}
	return keys
}

// edStayOpen reports whether the visit has an ED stay that has not ended:
// started, and not ended, cancelled or turned into an admission.
func edStayOpen(history []events.Event) bool {
	open := false
	for _, e := range history {
		switch e.Type {
		case events.TypeEDVisitStarted:
			open = true
		case events.TypeEDVisitEnded, events.TypeEDVisitCancelled, events.TypeHospitalAdmitted, events.TypeHospitalDischarged:
			open = false
		}
	}
	return open
}

// mergedInto reports whether the facility's feed merged the patient key
// from into one of keys.
func (s *Service) mergedInto(ctx context.Context, facility, from string, keys map[string]bool) (bool, error) {
	evs, err := s.l.Read(ctx, events.FeedStream(facility), 1)
	if err != nil {
		if errors.Is(err, ledger.ErrStreamNotFound) {
			return false, nil
		}
		return false, fmt.Errorf("read merges of %s: %w", facility, err)
	}
	for _, e := range evs {
		if e.Type != events.TypePatientMerged {
			continue
		}
		p, err := e.Payload()
		if err != nil {
			return false, fmt.Errorf("read merge %s: %w", e.ID, err)
		}
		if pm, ok := p.(*events.PatientMerged); ok && pm.MergedKey == from && keys[pm.SurvivingKey] {
			return true, nil
		}
	}
	return false, nil
}

// firstVisit is the visit as the stream's first hospital event recorded it.
func firstVisit(history []events.Event) (events.Visit, bool) {
	for _, e := range history {
		p, err := e.Payload()
		if err != nil {
			continue
		}
		switch v := p.(type) {
		case *events.EDVisitStarted:
			return v.Visit, true
		case *events.EDVisitUpdated:
			return v.Visit, true
		case *events.EDVisitEnded:
			return v.Visit, true
		case *events.EDVisitCancelled:
			return v.Visit, true
		case *events.HospitalAdmitted:
			return v.Visit, true
		case *events.HospitalDischarged:
			return v.Visit, true
		}
	}
	return events.Visit{}, false
}
