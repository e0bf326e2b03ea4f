package edintake

import "slices"

// VisitTriggers are the ADT trigger events recorded on a visit's stream:
// registration (A04), admission (A01), transfer (A02, which ends an open
// ED stay when the patient leaves the ED), discharge (A03), outpatient to
// inpatient (A06, an admission), update (A08) and the cancels of a visit
// (A11, A13).
var VisitTriggers = []string{"A01", "A02", "A03", "A04", "A06", "A08", "A11", "A13"}

// MergeTriggers merge one patient record into another on the facility's
// feed stream: A40 (merge patient, identifier list) and A34 (merge patient
// id only).
var MergeTriggers = []string{"A34", "A40"}

// Supported lists the trigger events Relais records.
var Supported = append(slices.Clone(VisitTriggers), MergeTriggers...)

// ignored reports an ADT trigger Relais receives and has nothing to
// record for (A05 pre-admit, A07, A12, A16, A25, A28, A31, A35 and the
// rest of the A triggers): the feed is told "received, nothing to do".
func ignored(trigger string) bool {
	return len(trigger) == 3 && trigger[0] == 'A' && trigger[1] >= '0' && trigger[1] <= '9' &&
		trigger[2] >= '0' && trigger[2] <= '9' && !slices.Contains(Supported, trigger)
}

// merge reports a trigger that merges patients.
func merge(trigger string) bool { return slices.Contains(MergeTriggers, trigger) }
