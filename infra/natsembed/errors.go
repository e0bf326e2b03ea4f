package natsembed

import "errors"

// ErrDataDir is returned when the data directory cannot be used.
var ErrDataDir = errors.New("data directory unusable")

// ErrBadPartner is returned when a partner user cannot be set: an id that
// is not one subject token, a key that is not a public user nkey, or an id
// or key given twice. Nothing is changed.
var ErrBadPartner = errors.New("bad partner")

// ErrCredential is returned when the credential file of a running server
// cannot be used: missing, unreadable, readable by other users, or not an
// nkey seed.
var ErrCredential = errors.New("nats credential unusable")

// ErrLocked is returned when another process owns the data directory (it
// holds the directory's lock: an embedded server runs on its files). The
// error is a *LockedError naming the owner.
var ErrLocked = errors.New("data directory in use by another process")

// ErrListen is returned when the client listener cannot be opened (its
// address is taken or not this machine's).
var ErrListen = errors.New("nats listener unavailable")

// ErrPositionsLost is returned when the ledger stream ends below its
// high-water mark: events acknowledged at those positions are gone (a
// truncated or damaged tail) and their positions must not be reused. The
// error is a *LostError naming the range.
var ErrPositionsLost = errors.New("acknowledged ledger positions lost")
