package reports

import (
	"time"

	"github.com/relais-health/relais/events"
)

// encounter is what the fold reads of an encounter event: its visit and
// the fields of its type, as bytes of the stored payload (readEncounter)
// or of the decoded one (encounterOf).
type encounter struct {
	client, key, facility, number []byte
	ident                         bool
	authority, value              []byte
	// at is the arrival (ed.visit.started), the end (ed.visit.ended) or
	// the admission (hospital.admitted) in Unix seconds, 0 when zero.
	at                        int64
	reason, category, trigger []byte
}

// readEncounter reads an encounter event from its stored payload without
// decoding it (most of a replay is the hospital feed, and every encounter
// counts here). It reads canonical JSON (events.Canonical) of the current
// schema version whose members are all of the payload type, strings
// without escapes and times in RFC 3339; it reports false for anything
// else, which the caller decodes the ordinary way.
func readEncounter(e *events.Event) (encounter, bool) {
	var x encounter
	var atKey, extra string
	switch e.Type {
	case events.TypeEDVisitStarted:
		atKey = "arrived_at"
	case events.TypeEDVisitUpdated:
	case events.TypeEDVisitEnded:
		atKey, extra = "ended_at", "disposition"
	case events.TypeEDVisitCancelled:
	case events.TypeHospitalAdmitted:
		atKey, extra = "admitted_at", "unit"
	case events.TypeHospitalDischarged:
		// discharged_at is not kept, only checked.
		extra = "disposition"
	default:
		return x, false
	}
	if e.SchemaVersion != events.CurrentVersion(e.Type) {
		return x, false
	}
	reasons := e.Type == events.TypeEDVisitStarted || e.Type == events.TypeEDVisitUpdated
	var seen uint8
	cancelled, discharged := e.Type == events.TypeEDVisitCancelled, e.Type == events.TypeHospitalDischarged
	ok := events.Members(e.Data, func(k, v []byte) bool {
		var dst *[]byte
		var ignored []byte
		switch string(k) {
		case "client_id":
			dst = &x.client
		case "patient_key":
			dst, seen = &x.key, seen|1
		case "facility":
			dst, seen = &x.facility, seen|2
		case "visit_number":
			dst, seen = &x.number, seen|4
		case "identifier":
			return x.readIdentifier(v)
		case "arrived_at", "ended_at", "admitted_at", "discharged_at":
			if string(k) == atKey {
				var ok bool
				x.at, ok = unixRFC3339(v)
				return ok
			}
			if discharged && string(k) == "discharged_at" {
				_, ok := unixRFC3339(v)
				return ok
			}
			return false
		case "reason":
			if !reasons && !cancelled {
				return false
			}
			dst = &x.reason
		case "reason_category":
			if !reasons {
				return false
			}
			dst = &x.category
		case "trigger":
			if !cancelled {
				return false
			}
			dst = &x.trigger
		case "disposition", "unit":
			if string(k) != extra {
				return false
			}
			dst = &ignored
		default:
			return false // not a member of the type: let the decoder judge
		}
		s, ok := events.PlainString(v)
		*dst = s
		return ok
	})
	// A missing visit field decodes as "": read the decoder's way.
	return x, ok && seen == 7
}

func (x *encounter) readIdentifier(v []byte) bool {
	x.ident, x.authority, x.value = true, nil, nil
	return events.Members(v, func(k, v []byte) bool {
		var dst *[]byte
		switch string(k) {
		case "authority":
			dst = &x.authority
		case "value":
			dst = &x.value
		default:
			return false
		}
		s, ok := events.PlainString(v)
		*dst = s
		return ok
	})
}

// encounterOf is encounter read from a decoded payload (nil when pl is not
// an encounter event).
func encounterOf(pl events.Payload) *encounter {
	var x encounter
	var v events.Visit
	switch p := pl.(type) {
	case *events.EDVisitStarted:
		v, x.at, x.reason, x.category = p.Visit, unix(p.ArrivedAt), []byte(p.Reason), []byte(p.ReasonCategory)
	case *events.EDVisitUpdated:
		v, x.reason, x.category = p.Visit, []byte(p.Reason), []byte(p.ReasonCategory)
	case *events.EDVisitEnded:
		v, x.at = p.Visit, unix(p.EndedAt)
	case *events.EDVisitCancelled:
		v, x.trigger, x.reason = p.Visit, []byte(p.Trigger), []byte(p.Reason)
	case *events.HospitalAdmitted:
		v, x.at = p.Visit, unix(p.AdmittedAt)
	case *events.HospitalDischarged:
		v = p.Visit
	default:
		return nil
	}
	x.client, x.key, x.facility, x.number = []byte(v.ClientID), []byte(v.PatientKey), []byte(v.Facility), []byte(v.VisitNumber)
	if v.Identifier != nil {
		x.ident, x.authority, x.value = true, []byte(v.Identifier.Authority), []byte(v.Identifier.Value)
	}
	return &x
}

// unixRFC3339 reads a JSON string holding a time as time.Time's JSON
// decoding does (RFC 3339, "2006-01-02T15:04:05.999999999Z07:00") and
// returns unix of it. It reports false for anything that is not exactly
// that layout with valid fields; the caller then decodes the payload, which
// says what is wrong.
func unixRFC3339(v []byte) (int64, bool) {
	b, ok := events.PlainString(v)
	if !ok || len(b) < len("2006-01-02T15:04:05Z") || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	num := func(s []byte) int {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(b[0:4]), num(b[5:7]), num(b[8:10])
	hour, minute, sec := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour < 0 || hour > 23 ||
		minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return 0, false
	}
	rest := b[19:]
	fraction := false
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			fraction = fraction || rest[n] != '0'
			n++
		}
		if n == 1 || n > 10 {
			return 0, false
		}
		rest = rest[n:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, m := num(rest[1:3]), num(rest[4:6])
		if h < 0 || h > 23 || m < 0 || m > 59 {
			return 0, false
		}
		offset = (h*60 + m) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC).Unix() - int64(offset)
	if t == zeroUnix && !fraction {
		return 0, true // the zero time.Time, which unix reads as 0
	}
	return t, true
}

var zeroUnix = time.Time{}.Unix()

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
