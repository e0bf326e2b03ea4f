package events

import (
	"slices"
	"time"
	"unicode/utf8"
)

// check accumulates the first validation failure of a payload, so each
// Validate method reads as a list of rules.
type check struct{ err error }

func (c *check) fail(field, format string, args ...any) {
	if c.err == nil {
		c.err = fieldErr(field, format, args...)
	}
}

// required: present and at most max characters.
func (c *check) required(field, v string, max int) {
	if v == "" {
		c.fail(field, "required")
		return
	}
	c.optional(field, v, max)
}

// optional: at most max characters and valid UTF-8 when present.
func (c *check) optional(field, v string, max int) {
	if !utf8.ValidString(v) {
		c.fail(field, "not valid UTF-8")
	} else if utf8.RuneCountInString(v) > max {
		c.fail(field, "longer than %d characters", max)
	}
}

// oneOf: v must be one of allowed.
func (c *check) oneOf(field, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		c.fail(field, "%q is not one of %v", v, allowed)
	}
}

// when: a time that must be set.
func (c *check) when(field string, t time.Time) {
	if t.IsZero() {
		c.fail(field, "required")
	}
}

func (c *check) result() error { return c.err }
