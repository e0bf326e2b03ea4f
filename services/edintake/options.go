package edintake

import (
	"strings"

	"github.com/relais-health/relais/events"
)

// RecordOption sets who sent a message and how, in Record.
type RecordOption func(*sender)

// sender is who and what connection a message came from.
type sender struct {
	actor       events.Actor
	remote      string
	certificate string
}

// By records actor as the event's actor: the caller of the HTTP API. A
// system actor speaks for one facility only (see BoundFacility); without
// By, the actor is the facility's feed, hl7-<facility>, as for MLLP.
func By(actor events.Actor) RecordOption { return func(s *sender) { s.actor = actor } }

// Via records the connection the message came on: the peer's address and
// the subject of its verified client certificate (empty without one).
func Via(remote, certificate string) RecordOption {
	return func(s *sender) { s.remote, s.certificate = remote, certificate }
}

// FeedActor is the actor of a facility's feed: the system account
// hl7-<facility>.
func FeedActor(facility string) events.Actor {
	return events.Actor{ID: "hl7-" + facility, Role: events.RoleSystem}
}

// BoundFacility reports whether a system actor speaks for facility: the
// convention is that the system account hl7-<facility> (the facility in any
// case, e.g. hl7-hsta for HSTA) is that facility's feed and no other's, so
// binding a token to its facility needs nothing in the directory but the
// account's id.
func BoundFacility(actorID, facility string) bool {
	f, ok := strings.CutPrefix(strings.ToLower(actorID), "hl7-")
	return ok && facility != "" && strings.EqualFold(f, facility)
}
