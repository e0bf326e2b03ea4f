package events

// The catalog v1. Each type is registered at its current schema version;
// when a payload's shape changes, bump the version here and register an
// upcaster from the old one.
func init() {
	for _, f := range []func() Payload{
		func() Payload { return &ClientRegistered{} },
		func() Payload { return &ClientFlagged{} },
		func() Payload { return &ClientUnflagged{} },
		func() Payload { return &EDVisitStarted{} },
		func() Payload { return &EDVisitUpdated{} },
		func() Payload { return &EDVisitEnded{} },
		func() Payload { return &EDVisitCancelled{} },
		func() Payload { return &HospitalAdmitted{} },
		func() Payload { return &HospitalDischarged{} },
		func() Payload { return &PatientMerged{} },
		func() Payload { return &ContactMade{} },
		func() Payload { return &AssessmentCompleted{} },
		func() Payload { return &ClientEnrolled{} },
		func() Payload { return &ConsentGranted{} },
		func() Payload { return &ConsentRevoked{} },
		func() Payload { return &CaseManagerAssigned{} },
		func() Payload { return &PivotWorkerAssigned{} },
		func() Payload { return &PlanCreated{} },
		func() Payload { return &ObjectiveAdded{} },
		func() Payload { return &ObjectiveMet{} },
		func() Payload { return &ObjectiveAbandoned{} },
		func() Payload { return &PharmacistConcernRaised{} },
		func() Payload { return &DoctorNotified{} },
		func() Payload { return &DoctorConfirmed{} },
		func() Payload { return &ReferralSent{} },
		func() Payload { return &ReferralAccepted{} },
		func() Payload { return &ReferralDeclined{} },
		func() Payload { return &ReferralCompleted{} },
		func() Payload { return &AlertRaised{} },
		func() Payload { return &AlertAcknowledged{} },
		func() Payload { return &AlertEscalated{} },
		func() Payload { return &AlertWithdrawn{} },
		func() Payload { return &CaseClosed{} },
		func() Payload { return &PartnerRegistered{} },
		func() Payload { return &StaffRegistered{} },
		func() Payload { return &TokenRotated{} },
		func() Payload { return &TokenRevoked{} },
		func() Payload { return &NATSKeyIssued{} },
		func() Payload { return &NATSKeyRevoked{} },
		func() Payload { return &FileAccessed{} },
		func() Payload { return &FileAccessDenied{} },
		func() Payload { return &ClientIdentifierClaimed{} },
		func() Payload { return &ClientIdentifierReleased{} },
		func() Payload { return &ClientMerged{} },
		func() Payload { return &ClientAbsorbed{} },
	} {
		Register(1, f)
	}
	// medication.profile_updated v1 carried medications as plain names;
	// v2 carries Medication lines. The upcaster keeps v1 events readable.
	Register(2, func() Payload { return &MedicationProfileUpdated{} })
	RegisterUpcaster(TypeMedicationProfile, 1, upcastMedicationV1)
}
