package events

import "time"

// PartnerRegistered: a family doctor, pharmacy, community organization or
// rehab centre joined the network's directory.
type PartnerRegistered struct {
	PartnerID string `json:"partner_id"`
	Category  string `json:"category"`
	Name      string `json:"name"`
	// TokenHash is the SHA-256 (hex) of the partner's API token; the token
	// itself is never stored.
	TokenHash  string `json:"token_hash,omitempty"`
	WebhookURL string `json:"webhook_url,omitempty"`
	// TokenExpiresAt is when the token stops working (none: it does not
	// expire).
	TokenExpiresAt *time.Time `json:"token_expires_at,omitempty"`
}

func (PartnerRegistered) EventType() string { return TypePartnerRegistered }
func (p PartnerRegistered) Validate() error {
	var c check
	c.required("partner_id", p.PartnerID, 64)
	c.oneOf("category", p.Category, Categories)
	c.required("name", p.Name, 200)
	c.optional("token_hash", p.TokenHash, 64)
	c.optional("webhook_url", p.WebhookURL, 500)
	return c.result()
}

// StaffRegistered: a member of the programme's staff, with their role.
type StaffRegistered struct {
	StaffID   string `json:"staff_id"`
	Role      string `json:"role"`
	Name      string `json:"name"`
	TokenHash string `json:"token_hash,omitempty"`
	// TokenExpiresAt is when the token stops working (none: it does not
	// expire).
	TokenExpiresAt *time.Time `json:"token_expires_at,omitempty"`
}

func (StaffRegistered) EventType() string { return TypeStaffRegistered }
func (p StaffRegistered) Validate() error {
	var c check
	c.required("staff_id", p.StaffID, 64)
	c.oneOf("role", p.Role, StaffRoles)
	c.required("name", p.Name, 200)
	c.optional("token_hash", p.TokenHash, 64)
	return c.result()
}

// TokenRotated: a staff member's or partner's bearer token was replaced by
// a new one (on their directory stream; the envelope's actor is who rotated
// it). The old token stops working when this is folded.
type TokenRotated struct {
	// ID is the staff or partner id (the stream says which).
	ID        string `json:"id"`
	TokenHash string `json:"token_hash"`
	// ExpiresAt is when the new token stops working (none: never).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func (TokenRotated) EventType() string { return TypeTokenRotated }
func (p TokenRotated) Validate() error {
	var c check
	c.required("id", p.ID, 64)
	c.required("token_hash", p.TokenHash, 64)
	return c.result()
}

// TokenRevoked: a staff member's or partner's bearer token was withdrawn;
// they have none until the next rotation.
type TokenRevoked struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
}

func (TokenRevoked) EventType() string { return TypeTokenRevoked }
func (p TokenRevoked) Validate() error {
	var c check
	c.required("id", p.ID, 64)
	c.optional("reason", p.Reason, 500)
	return c.result()
}

// NATSKeyIssued: a partner was given an NATS user nkey (its public key
// here; the seed was shown once to the admin who issued it). It replaces
// any key the partner had.
type NATSKeyIssued struct {
	PartnerID string `json:"partner_id"`
	PublicKey string `json:"public_key"`
}

func (NATSKeyIssued) EventType() string { return TypeNATSKeyIssued }
func (p NATSKeyIssued) Validate() error {
	var c check
	c.required("partner_id", p.PartnerID, 64)
	c.required("public_key", p.PublicKey, 64)
	if len(p.PublicKey) > 0 && p.PublicKey[0] != 'U' {
		c.fail("public_key", "not an NATS user public key (it starts with U)")
	}
	return c.result()
}

// NATSKeyRevoked: a partner's NATS key was withdrawn.
type NATSKeyRevoked struct {
	PartnerID string `json:"partner_id"`
	PublicKey string `json:"public_key,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

func (NATSKeyRevoked) EventType() string { return TypeNATSKeyRevoked }
func (p NATSKeyRevoked) Validate() error {
	var c check
	c.required("partner_id", p.PartnerID, 64)
	c.optional("public_key", p.PublicKey, 64)
	c.optional("reason", p.Reason, 500)
	return c.result()
}
