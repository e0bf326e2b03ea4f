package events

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every validation failure, so callers can test
// errors.Is(err, events.ErrInvalid) without caring which field failed.
var ErrInvalid = errors.New("invalid event")

// ErrUnknownType is returned when an event type is not in the catalog.
var ErrUnknownType = errors.New("unknown event type")

// FieldError names the field that made an event invalid and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Is makes a FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
