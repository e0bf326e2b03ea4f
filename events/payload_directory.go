package events

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
