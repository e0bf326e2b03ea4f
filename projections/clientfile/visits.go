package clientfile

import (
	"slices"
	"time"

	"github.com/relais-health/relais/events"
)

// applyHospital folds the encounter events and merges; it reports whether
// pl was one of them.
func (s *state) applyHospital(pl events.Payload, at time.Time) bool {
	switch v := pl.(type) {
	case *events.EDVisitStarted:
		s.visit(v.Visit, func(x *Visit) {
			x.ArrivedAt, x.Reason, x.ReasonCategory = v.ArrivedAt.UTC(), v.Reason, v.ReasonCategory
		})
	case *events.EDVisitUpdated:
		s.visit(v.Visit, func(x *Visit) {
			if v.Reason != "" {
				x.Reason = v.Reason
			}
			if v.ReasonCategory != "" {
				x.ReasonCategory = v.ReasonCategory
			}
		})
	case *events.EDVisitEnded:
		s.visit(v.Visit, func(x *Visit) { x.EndedAt, x.Disposition = v.EndedAt.UTC(), v.Disposition })
	case *events.HospitalAdmitted:
		s.visit(v.Visit, func(x *Visit) { x.AdmittedAt, x.Unit = v.AdmittedAt.UTC(), v.Unit })
	case *events.HospitalDischarged:
		s.visit(v.Visit, func(x *Visit) { x.DischargedAt, x.DischargeDisposition = v.DischargedAt.UTC(), v.Disposition })
	case *events.EDVisitCancelled:
		s.visit(v.Visit, func(x *Visit) { cancel(x, v, at) })
	case *events.PatientMerged:
		s.merge(v, at)
	default:
		return false
	}
	return true
}

// cancel applies an A11 or A13. A13 cancels the discharge: the patient is
// back in the ED or the ward. A11 cancels the last admit/visit
// notification: the admission when the patient was admitted and not yet
// discharged, otherwise the ED visit itself.
func cancel(x *Visit, v *events.EDVisitCancelled, at time.Time) {
	switch {
	case v.Trigger == "A13":
		x.EndedAt, x.Disposition = time.Time{}, ""
		x.DischargedAt, x.DischargeDisposition = time.Time{}, ""
	case !x.AdmittedAt.IsZero() && x.DischargedAt.IsZero():
		x.AdmittedAt, x.Unit = time.Time{}, ""
	default:
		x.Cancelled, x.CancelledAt, x.CancelReason = true, at, v.Reason
	}
}

// linked reports whether the patient key (once merges are followed) belongs
// to a client, without copying key.
func (s *state) linked(key []byte) bool {
	if standing, merged := s.Aliases.ResolveBytes(key); merged {
		_, linked := s.Keys[standing]
		return linked
	}
	_, linked := s.Keys[string(key)]
	return linked
}

// in shares one copy of a repeated string (facility, reason, staff id...).
func (s *state) in(v string) string {
	if v == "" {
		return ""
	}
	if x, ok := s.strs[v]; ok {
		return x
	}
	s.strs[v] = v
	return v
}

func (s *state) internVisit(x *Visit) {
	x.Facility, x.PatientKey = s.in(x.Facility), s.in(x.PatientKey)
	x.Reason, x.ReasonCategory = s.in(x.Reason), s.in(x.ReasonCategory)
	x.Disposition, x.Unit, x.DischargeDisposition = s.in(x.Disposition), s.in(x.Unit), s.in(x.DischargeDisposition)
}

// visit finds (or starts) the encounter in the file of the client it
// belongs to and lets fn update it. A visit that belongs to no client and
// is not already in a file is not kept.
func (s *state) visit(v events.Visit, fn func(*Visit)) {
	key := s.Aliases.Resolve(v.PatientKey)
	client := v.ClientID
	if client != "" {
		s.Keys[key] = client
	} else {
		client = s.Keys[key]
	}
	ref := events.VisitHash(v.Facility, v.VisitNumber)
	holder, held := s.holders[ref]
	if held && !s.Files[holder].hasVisit(v.Facility, v.VisitNumber) {
		held = false // another visit with the same hash
	}
	if client == "" {
		if !held {
			return
		}
		client = holder
	}
	var x Visit
	if held {
		x = s.takeVisit(holder, v.Facility, v.VisitNumber)
	} else {
		x = Visit{Facility: v.Facility, VisitNumber: v.VisitNumber}
	}
	x.PatientKey = key
	fn(&x)
	s.internVisit(&x)
	x.LengthMinutes = lengthMinutes(x)
	f := s.file(client)
	f.addKey(key)
	s.putVisit(client, x)
}

func (f *File) hasVisit(facility, number string) bool {
	return slices.ContainsFunc(f.Visits, func(x Visit) bool { return x.Facility == facility && x.VisitNumber == number })
}

// takeVisit removes the encounter from the holder's file and returns it.
// The caller puts it back (in the same file or another).
func (s *state) takeVisit(holder, facility, number string) Visit {
	f := s.Files[holder]
	i := slices.IndexFunc(f.Visits, func(x Visit) bool { return x.Facility == facility && x.VisitNumber == number })
	if i < 0 {
		return Visit{Facility: facility, VisitNumber: number}
	}
	x := f.Visits[i]
	f.Visits = slices.Delete(f.Visits, i, i+1)
	delete(s.holders, events.VisitHash(facility, number))
	return x
}

// putVisit stores the encounter in the client's file, keeping the visits
// ordered by arrival (encounters without an arrival time by admission).
func (s *state) putVisit(client string, x Visit) {
	f := s.file(client)
	t := visitTime(x)
	i := len(f.Visits)
	for i > 0 && visitTime(f.Visits[i-1]).After(t) {
		i--
	}
	f.Visits = slices.Insert(f.Visits, i, x)
	s.holders[events.VisitHash(x.Facility, x.VisitNumber)] = client
}

func visitTime(x Visit) time.Time {
	for _, t := range []time.Time{x.ArrivedAt, x.AdmittedAt, x.EndedAt, x.DischargedAt, x.CancelledAt} {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// lengthMinutes is the ED stay: arrival to leaving the ED, or to admission.
func lengthMinutes(x Visit) int {
	end := x.EndedAt
	if !x.AdmittedAt.IsZero() {
		end = x.AdmittedAt
	}
	if x.ArrivedAt.IsZero() || end.IsZero() || end.Before(x.ArrivedAt) {
		return 0
	}
	return int(end.Sub(x.ArrivedAt) / time.Minute)
}

// merge moves the history of the merged patient key to the surviving key
// and, when a client is known on either side, to the surviving client's
// file (the surviving client named by the event first).
func (s *state) merge(m *events.PatientMerged, at time.Time) {
	survivor := s.Aliases.Merge(m.MergedKey, m.SurvivingKey)
	oldClient := s.Keys[m.MergedKey]
	target := firstNonEmpty(m.SurvivingClient, s.Keys[survivor], m.MergedClient, oldClient)
	if target == "" {
		return
	}
	s.Keys[survivor], s.Keys[m.MergedKey] = target, target
	for _, c := range uniq(m.MergedClient, oldClient, target) {
		f, ok := s.Files[c]
		if !ok {
			continue
		}
		var moved []Visit
		f.Visits = slices.DeleteFunc(f.Visits, func(x Visit) bool {
			if x.PatientKey != m.MergedKey {
				return false
			}
			moved = append(moved, x)
			return true
		})
		for _, x := range moved {
			x.PatientKey = survivor
			s.putVisit(target, x)
		}
	}
	f := s.file(target)
	f.addKey(survivor)
	s.change(f, at, events.TypePatientMerged, m.MergedKey, survivor)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func uniq(vs ...string) []string {
	var out []string
	for _, v := range vs {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
