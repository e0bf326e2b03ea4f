package edintake

import "errors"

var (
	// ErrRefused: the sender is not accepted (an unknown facility, or a
	// system actor that does not speak for the message's facility).
	ErrRefused = errors.New("sender refused")
	// ErrUnsupported: a message type Relais does not record.
	ErrUnsupported = errors.New("unsupported message")
	// ErrMalformed: the message lacks or garbles a required field.
	ErrMalformed = errors.New("malformed message")
	// ErrPatientMismatch: the message names a visit that was started for
	// another patient (none of its identifiers is the visit's patient).
	ErrPatientMismatch = errors.New("patient does not match the visit")
)
