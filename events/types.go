package events

// Stable event type names. They are what the ledger stores; renaming a Go
// type never changes them.
const (
	TypeClientRegistered    = "client.registered"
	TypeClientFlagged       = "client.flagged"
	TypeClientUnflagged     = "client.unflagged"
	TypeEDVisitStarted      = "ed.visit.started"
	TypeEDVisitUpdated      = "ed.visit.updated"
	TypeEDVisitEnded        = "ed.visit.ended"
	TypeEDVisitCancelled    = "ed.visit.cancelled"
	TypeHospitalAdmitted    = "hospital.admitted"
	TypeHospitalDischarged  = "hospital.discharged"
	TypePatientMerged       = "patient.merged"
	TypeContactMade         = "contact.made"
	TypeAssessmentCompleted = "assessment.completed"
	TypeClientEnrolled      = "client.enrolled"
	TypeConsentGranted      = "consent.granted"
	TypeConsentRevoked      = "consent.revoked"
	TypeCaseManagerAssigned = "case_manager.assigned"
	TypePivotWorkerAssigned = "pivot_worker.assigned"
	TypePlanCreated         = "plan.created"
	TypeObjectiveAdded      = "objective.added"
	TypeObjectiveMet        = "objective.met"
	TypeObjectiveAbandoned  = "objective.abandoned"
	TypeMedicationProfile   = "medication.profile_updated"
	TypePharmacistConcern   = "pharmacist.concern_raised"
	TypeDoctorNotified      = "doctor.notified"
	TypeDoctorConfirmed     = "doctor.confirmed"
	TypeReferralSent        = "referral.sent"
	TypeReferralAccepted    = "referral.accepted"
	TypeReferralDeclined    = "referral.declined"
	TypeReferralCompleted   = "referral.completed"
	TypeAlertRaised         = "alert.raised"
	TypeAlertAcknowledged   = "alert.acknowledged"
	TypeAlertEscalated      = "alert.escalated"
	TypeAlertWithdrawn      = "alert.withdrawn"
	TypeCaseClosed          = "case.closed"
	TypePartnerRegistered   = "partner.registered"
	TypeStaffRegistered     = "staff.registered"
	TypeTokenRotated        = "token.rotated"
	TypeTokenRevoked        = "token.revoked"
	TypeNATSKeyIssued       = "nats_key.issued"
	TypeNATSKeyRevoked      = "nats_key.revoked"
	TypeFileAccessed        = "file.accessed"
)

// Partner categories a client consents to, one by one.
const (
	CategoryFamily    = "family"
	CategoryDoctor    = "doctor"
	CategoryPharmacy  = "pharmacy"
	CategoryCommunity = "community"
	CategoryRehab     = "rehab"
)

// Categories lists the consent categories.
var Categories = []string{CategoryFamily, CategoryDoctor, CategoryPharmacy, CategoryCommunity, CategoryRehab}

// Staff roles (partners act in the role named by their category).
const (
	RoleAdmin            = "admin"
	RoleCaseManager      = "case_manager"
	RolePivotWorker      = "pivot_worker"
	RoleProgrammeManager = "programme_manager"
	RoleArchivist        = "archivist"
	RoleAuditor          = "auditor"
	RoleSystem           = "system"
)

// StaffRoles lists the roles a staff member can be registered with.
var StaffRoles = []string{RoleAdmin, RoleCaseManager, RolePivotWorker, RoleProgrammeManager, RoleArchivist, RoleAuditor, RoleSystem}

// Alert priorities.
const (
	PriorityHigh   = "high"
	PriorityNormal = "normal"
	PriorityFYI    = "fyi"
)

var priorities = []string{PriorityHigh, PriorityNormal, PriorityFYI}

var contactChannels = []string{"phone", "in_person", "ed", "home_visit", "video", "message"}
