package events

import (
	"crypto/sha256"
	"encoding/hex"
)

// Identity of clients: who holds which patient identifier, and the merge of
// two clients found to be the same person. A patient identifier (e.g. a RAMQ
// number) belongs to one client at a time; the claim stream of the
// identifier (IdentifierStream) is where that is decided, by the ledger's
// optimistic concurrency, so two registrations racing for one identifier
// cannot both win.

// Stable type names of the identity events (kept beside their payloads so
// the catalog's one const block is not re-aligned by each area's additions).
const (
	TypeClientIdentifierClaimed  = "client.identifier_claimed"
	TypeClientIdentifierReleased = "client.identifier_released"
	TypeClientMerged             = "client.merged"
	TypeClientAbsorbed           = "client.absorbed"
)

// ClientIdentifierClaimed: the client holds the identifier whose claim
// stream this is. The stream name is a hash of the identifier; the payload
// keeps only the authority, so the claim spreads no identifier value. From
// is the client that held it before, when a merge passed it on.
type ClientIdentifierClaimed struct {
	ClientID  string `json:"client_id"`
	Authority string `json:"authority"`
	From      string `json:"from,omitempty"`
}

func (ClientIdentifierClaimed) EventType() string { return TypeClientIdentifierClaimed }
func (p ClientIdentifierClaimed) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("authority", p.Authority, 64)
	c.optional("from", p.From, 64)
	return c.result()
}

// ClientIdentifierReleased: a claim made by a registration that did not
// complete was given back, so the identifier is free again.
type ClientIdentifierReleased struct {
	ClientID  string `json:"client_id"`
	Authority string `json:"authority"`
	Reason    string `json:"reason"`
}

func (ClientIdentifierReleased) EventType() string { return TypeClientIdentifierReleased }
func (p ClientIdentifierReleased) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("authority", p.Authority, 64)
	c.required("reason", p.Reason, 500)
	return c.result()
}

// ClientMerged, on the duplicate's stream: this client is the same person
// as Into, which survives. The duplicate takes no more commands; its
// identifiers, patient keys, visits and alerts are the survivor's from now
// on.
type ClientMerged struct {
	ClientID string `json:"client_id"`
	Into     string `json:"into"`
	Reason   string `json:"reason"`
}

func (ClientMerged) EventType() string { return TypeClientMerged }
func (p ClientMerged) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("into", p.Into, 64)
	c.required("reason", p.Reason, 500)
	if p.ClientID == p.Into {
		c.fail("into", "a client cannot be merged into itself")
	}
	return c.result()
}

// ClientAbsorbed, on the survivor's stream: the duplicate Merged was merged
// into this client, which now holds its identifiers and patient keys.
type ClientAbsorbed struct {
	ClientID    string       `json:"client_id"`
	Merged      string       `json:"merged"`
	Identifiers []Identifier `json:"identifiers"`
	PatientKeys []string     `json:"patient_keys,omitempty"`
	Reason      string       `json:"reason"`
}

func (ClientAbsorbed) EventType() string { return TypeClientAbsorbed }
func (p ClientAbsorbed) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("merged", p.Merged, 64)
	c.required("reason", p.Reason, 500)
	if p.ClientID == p.Merged {
		c.fail("merged", "a client cannot absorb itself")
	}
	c.identifiers("identifiers", p.Identifiers)
	for _, k := range p.PatientKeys {
		c.required("patient_keys", k, 128)
	}
	return c.result()
}

// identifierHash is the claim stream's key of an identifier: SHA-256 over
// a domain tag, the authority and the value (NUL-separated, so "AB"+"C" and
// "A"+"BC" differ), the first 16 bytes in hex. It is not keyed: a claim must
// be found by every Relais process of the installation whatever its
// configuration, and the identifiers it hashes are already in the client's
// own client.registered event.
func identifierHash(id Identifier) string {
	h := sha256.New()
	h.Write([]byte("relais-identifier\x00"))
	h.Write([]byte(id.Authority))
	h.Write([]byte{0})
	h.Write([]byte(id.Value))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
