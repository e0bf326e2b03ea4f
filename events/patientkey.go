package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// PatientKey is the pseudonymous key of a hospital patient identifier: a
// keyed hash (HMAC-SHA256, first 16 bytes in hex) so visits of people who
// are not clients can be counted for the archivist's list without the ledger
// spreading their identifiers. The secret is the installation's.
func PatientKey(secret []byte, id Identifier) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id.Authority))
	m.Write([]byte{0})
	m.Write([]byte(id.Value))
	return "pk" + hex.EncodeToString(m.Sum(nil)[:16])
}

func compact(id string) string {
	out := make([]byte, 0, len(id))
	for i := 0; i < len(id); i++ {
		if id[i] != '-' {
			out = append(out, id[i])
		}
	}
	return string(out)
}
