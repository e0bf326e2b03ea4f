package edintake

import "errors"

var (
	// ErrRefused: the sender is not accepted (HL7 AR).
	ErrRefused = errors.New("sender refused")
	// ErrUnsupported: a message type Relais does not record (HL7 AR).
	ErrUnsupported = errors.New("unsupported message")
	// ErrMalformed: the message lacks or garbles a required field (HL7 AE).
	ErrMalformed = errors.New("malformed message")
)
