package directory

import "errors"

var (
	// ErrUnknownToken: no entry holds this token (never issued, replaced
	// by a rotation, or revoked).
	ErrUnknownToken = errors.New("unknown or revoked token")
	// ErrTokenExpired: the token was an entry's, but its lifetime is over.
	ErrTokenExpired = errors.New("token expired")
)
