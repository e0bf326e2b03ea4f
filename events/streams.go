package events

// The ledger's stream names: one function per kind of aggregate, so no
// package builds a name by hand. Ids are [A-Za-z0-9_-] (ValidStreamName);
// derived ids (UUIDs) lose their dashes to keep subjects short.

// ClientStream names the ledger stream of one client.
func ClientStream(clientID string) string { return "client-" + clientID }

// VisitStream names the ledger stream of one hospital encounter.
func VisitStream(facility, visitNumber string) string {
	return "visit-" + compact(DeriveID(facility, visitNumber))
}

// FeedStream names the stream of a sending facility's patient merges (A34,
// A40): feed-<facility> when the facility id is a valid stream name, as it
// always was, and feed-x<hash> for an id with spaces or punctuation
// ("GOOD HEALTH HOSPITAL", "Joe's Lab"), which no subject can carry.
func FeedStream(facility string) string {
	if s := "feed-" + facility; ValidStreamName(s) {
		return s
	}
	return "feed-x" + compact(DeriveID("feed", facility))
}

// StaffStream names the directory entry of one staff member.
func StaffStream(staffID string) string { return "staff-" + staffID }

// PartnerStream names the directory entry of one partner organization.
func PartnerStream(partnerID string) string { return "partner-" + partnerID }

// AlertStream names the stream of one alert (raised, acknowledged,
// escalated, withdrawn).
func AlertStream(alertID string) string { return "alert-" + compact(alertID) }

// AccessStream names the stream of reads of one client's file, kept apart
// from the client's stream so reads never contend with care writes.
func AccessStream(clientID string) string { return "access-" + clientID }

// IdentifierStream names the claim stream of one patient identifier: who
// holds it (ClientIdentifierClaimed). The name is a hash of the identifier
// (authority and value), so no identifier value reaches a subject name.
func IdentifierStream(id Identifier) string { return "ident-" + identifierHash(id) }

// AdminStream holds the first administrator's directory entry.
var AdminStream = StaffStream("admin")
