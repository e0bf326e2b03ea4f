package hl7

import "errors"

var (
	// ErrMalformed wraps every parse failure; the message names the field.
	ErrMalformed = errors.New("malformed HL7 message")
	// ErrUnsupported wraps a message type or trigger Relais does not record.
	ErrUnsupported = errors.New("unsupported HL7 message")
	// ErrSource wraps a message whose sending facility (MSH-4) is not
	// accepted from the connection it came on (answered AR).
	ErrSource = errors.New("sending facility not accepted from this connection")
	// ErrSourceConfig wraps a source list or binding that cannot be used.
	ErrSourceConfig = errors.New("bad hl7 source configuration")
)
