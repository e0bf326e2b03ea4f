package hl7

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed wraps every parse failure; the message names the field.
	ErrMalformed = errors.New("malformed HL7 message")
	// ErrUnsupported wraps a message type Relais does not take (not ADT),
	// and a batch (FHS/BHS) sent as one MLLP frame.
	ErrUnsupported = errors.New("unsupported HL7 message")
	// ErrSource wraps a message whose sending facility (MSH-4) is not
	// accepted from the connection it came on (answered AR).
	ErrSource = errors.New("sending facility not accepted from this connection")
	// ErrSourceConfig wraps a source list or binding that cannot be used.
	ErrSourceConfig = errors.New("bad hl7 source configuration")
	// ErrFacilityConfig wraps a facilities file that cannot be used; the
	// message names the file and line.
	ErrFacilityConfig = errors.New("bad facilities file")
)

// HL7 table 0357 error codes, as the ACK's ERR segment gives them.
const (
	CodeSegmentSequence = 100 // a required segment missing or out of place
	CodeRequiredField   = 101 // a required field missing
	CodeDataType        = 102 // a field that is not of its type (a bad date)
	CodeUnsupportedType = 200 // message type not supported
	CodeUnsupportedCode = 201 // trigger event not supported
	CodeUnknownKey      = 204 // a key that names another record (the visit's patient)
	CodeInternal        = 207 // application internal error (the ledger)
)

// FieldError is what is wrong in one segment or field of a message: it
// wraps ErrMalformed or ErrUnsupported and carries the HL7 error code and
// location the ACK's ERR segment names.
type FieldError struct {
	Kind    error  // ErrMalformed or ErrUnsupported
	Segment string // e.g. "PV1"
	Field   int    // 0 when the whole segment
	Code    int    // table 0357
	Text    string
}

func (e *FieldError) Error() string {
	loc := e.Segment
	if e.Field > 0 {
		loc = fmt.Sprintf("%s-%d", e.Segment, e.Field)
	}
	return fmt.Sprintf("%v: %s: %s", e.Kind, loc, e.Text)
}

func (e *FieldError) Unwrap() error { return e.Kind }

func malformed(seg string, field, code int, format string, a ...any) error {
	return &FieldError{Kind: ErrMalformed, Segment: seg, Field: field, Code: code, Text: fmt.Sprintf(format, a...)}
}
