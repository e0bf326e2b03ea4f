package sse

import "errors"

// ErrBadLastEventID: the client sent a Last-Event-ID that is not a position.
var ErrBadLastEventID = errors.New("bad Last-Event-ID")
