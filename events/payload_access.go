package events

// Access to client files: the reads (FileAccessed, in payload_client.go)
// and the refused attempts, both on the client's access stream, so the
// auditor sees who read and who tried.

// TypeFileAccessDenied is the stable type name of a refused read (kept
// beside its payload so the catalog's one const block is not re-aligned by
// each area's additions).
const TypeFileAccessDenied = "file.access_denied"

// Reasons a read of a client file is refused (FileAccessDenied.Reason).
const (
	// DenialNoConsent: the client's consent does not name the caller (its
	// category, or another partner of it).
	DenialNoConsent = "no_consent"
	// DenialRole: the caller's role never sees client files.
	DenialRole = "role"
	// DenialForbidden: any other refusal.
	DenialForbidden = "forbidden"
)

// FileAccessDenied: someone tried to read the client's file and was
// refused. It carries ids and a reason code, never the file.
type FileAccessDenied struct {
	ClientID string `json:"client_id"`
	ActorID  string `json:"actor_id"`
	Role     string `json:"role"`
	View     string `json:"view"`
	Reason   string `json:"reason"`
}

func (FileAccessDenied) EventType() string { return TypeFileAccessDenied }
func (p FileAccessDenied) Validate() error {
	var c check
	c.required("client_id", p.ClientID, 64)
	c.required("actor_id", p.ActorID, 128)
	c.required("role", p.Role, 64)
	c.required("view", p.View, 64)
	c.oneOf("reason", p.Reason, []string{DenialNoConsent, DenialRole, DenialForbidden})
	return c.result()
}
