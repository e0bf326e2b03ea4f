package edintake

import "errors"

var (
	// ErrRefused: the sender is not accepted.
	ErrRefused = errors.New("sender refused")
	// ErrUnsupported: a message type Relais does not record.
	ErrUnsupported = errors.New("unsupported message")
	// ErrMalformed: the message lacks or garbles a required field.
	ErrMalformed = errors.New("malformed message")
)
