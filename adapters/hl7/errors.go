package hl7

import "errors"

var (
	// ErrMalformed wraps every parse failure; the message names the field.
	ErrMalformed = errors.New("malformed HL7 message")
	// ErrUnsupported wraps a message type or trigger Relais does not record.
	ErrUnsupported = errors.New("unsupported HL7 message")
)
