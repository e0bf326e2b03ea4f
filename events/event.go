package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	fastjson "github.com/goccy/go-json"
	"github.com/google/uuid"
)

// MaxEventSize is the largest encoded event the ledger accepts (1 MiB).
const MaxEventSize = 1 << 20

// Actor is who caused an event: a directory identity and the role it acted in.
type Actor struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// Source is the outside system an event came from, that system's own
// message id (for example an HL7 message control id, MSH-10), and the
// connection it came on: the peer's address and, over mutual TLS, the
// subject of its verified client certificate. A hospital feed is
// authenticated by its connection, so the ledger keeps which one sent what.
type Source struct {
	System    string `json:"system,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	// Remote is the peer's address (host:port) as the listener saw it.
	Remote string `json:"remote,omitempty"`
	// Certificate is the subject of the peer's verified client
	// certificate (RFC 2253 form, e.g. "CN=HSTA,O=Hôpital").
	Certificate string `json:"certificate,omitempty"`
}

// Event is one immutable ledger entry: the envelope and its JSON payload.
//
// Callers build events with New; the ledger fills Stream, Revision, Position,
// RecordedAt, PrevHash and Hash when it appends them.
type Event struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Stream        string          `json:"stream"`
	Revision      uint64          `json:"revision"`
	Position      uint64          `json:"-"`
	OccurredAt    time.Time       `json:"occurred_at"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Actor         Actor           `json:"actor"`
	Source        Source          `json:"source,omitzero"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	PrevHash      string          `json:"prev_hash"`
	Hash          string          `json:"-"`
	Data          json.RawMessage `json:"data"`
	// Raw holds the stored bytes when the event was read from a ledger, so
	// verification can recompute the hash over exactly what was stored.
	Raw []byte `json:"-"`

	// checked fingerprints the type and payload New validated and
	// canonicalized, so the ledger need not decode the payload again. Any
	// change to Type, SchemaVersion or Data voids it.
	checked fingerprint
	// decoded caches the payload of an event read from the ledger, shared
	// by the copies handed to each projection, so it is decoded once.
	decoded *decodedPayload
}

type decodedPayload struct {
	v atomic.Pointer[payloadAt]
}

type payloadAt struct {
	fp fingerprint
	p  Payload
}

type fingerprint struct {
	typ     string
	version int
	data    *byte
	n       int
}

func fingerprintOf(e *Event) fingerprint {
	if len(e.Data) == 0 {
		return fingerprint{}
	}
	return fingerprint{typ: e.Type, version: e.SchemaVersion, data: &e.Data[0], n: len(e.Data)}
}

// payloadChecked reports whether New already validated and canonicalized
// this exact payload.
func (e *Event) payloadChecked() bool {
	return e.checked.data != nil && e.checked == fingerprintOf(e)
}

// Option sets an optional envelope field in New.
type Option func(*Event)

// WithID sets the event id (a UUID). Deterministic ids make derived events
// idempotent: the same input always yields the same id.
func WithID(id string) Option { return func(e *Event) { e.ID = id } }

// WithSource records the outside system and its message id.
func WithSource(system, messageID string) Option {
	return func(e *Event) { e.Source.System, e.Source.MessageID = system, messageID }
}

// WithConnection records the connection an outside message came on: the
// peer's address and its client certificate's subject (empty without
// mutual TLS).
func WithConnection(remote, certificate string) Option {
	return func(e *Event) { e.Source.Remote, e.Source.Certificate = remote, certificate }
}

// WithCorrelation sets the correlation id (the conversation) and causation id
// (the event or command that caused this one).
func WithCorrelation(correlationID, causationID string) Option {
	return func(e *Event) { e.CorrelationID, e.CausationID = correlationID, causationID }
}

// WithOccurredAt sets when the fact happened in the world (default: now).
func WithOccurredAt(t time.Time) Option { return func(e *Event) { e.OccurredAt = t } }

// New validates p and wraps it in an envelope with a fresh UUIDv7 id.
func New(p Payload, actor Actor, opts ...Option) (Event, error) {
	if err := p.Validate(); err != nil {
		return Event{}, fmt.Errorf("%s: %w", p.EventType(), err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s: %w", p.EventType(), err)
	}
	if data, err = Canonical(data); err != nil {
		return Event{}, fmt.Errorf("encode %s: %w", p.EventType(), err)
	}
	e := Event{
		Type:          p.EventType(),
		SchemaVersion: CurrentVersion(p.EventType()),
		OccurredAt:    time.Now().UTC(),
		Actor:         actor,
		Data:          data,
	}
	for _, o := range opts {
		o(&e)
	}
	if e.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return Event{}, fmt.Errorf("new event id: %w", err)
		}
		e.ID = id.String()
	}
	e.checked = fingerprintOf(&e)
	return e, e.validateEnvelope()
}

// MustNew is New for tests and fixtures; it panics on an invalid payload.
func MustNew(p Payload, actor Actor, opts ...Option) Event {
	e, err := New(p, actor, opts...)
	if err != nil {
		panic(err)
	}
	return e
}

// DeriveID returns a name-based UUID (v5) for derived facts, so the same
// inputs always give the same event id.
func DeriveID(parts ...string) string {
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString(p)
		b.WriteByte(0)
	}
	return uuid.NewSHA1(relaisNamespace, b.Bytes()).String()
}

var relaisNamespace = uuid.MustParse("6f1d0c5e-5b8a-4f3e-9a57-52656c616973")

// ValidStreamName reports whether s can name a ledger stream: 1 to 200
// letters, digits, '-' or '_', starting with a letter or digit (the
// regular expression ^[A-Za-z0-9][A-Za-z0-9_-]{0,199}$, written by hand: it
// runs on every append).
func ValidStreamName(s string) bool {
	if len(s) == 0 || len(s) > 200 || !alnum(s[0], true) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !alnum(c, true) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// validRole: 1 to 64 lower-case letters, digits, '-' or '_', starting with
// a letter (^[a-z][a-z0-9_-]{0,63}$ by hand).
func validRole(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !alnum(c, false) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func alnum(c byte, upper bool) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || upper && c >= 'A' && c <= 'Z'
}

// Validate checks the envelope and the payload against the catalog. The error
// wraps ErrInvalid (or ErrUnknownType) and names the offending field.
func (e *Event) Validate() error {
	if err := e.validateEnvelope(); err != nil {
		return err
	}
	if e.payloadChecked() {
		return nil
	}
	p, err := e.decodePayload(true)
	if err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("%s: %w", e.Type, err)
	}
	return nil
}

func (e *Event) validateEnvelope() error {
	if _, err := uuid.Parse(e.ID); err != nil {
		return fieldErr("id", "not a UUID")
	}
	if e.Actor.ID == "" {
		return fieldErr("actor.id", "required")
	}
	if len(e.Actor.ID) > 128 {
		return fieldErr("actor.id", "longer than 128 characters")
	}
	if !validRole(e.Actor.Role) {
		return fieldErr("actor.role", "required, lower-case letters, digits, '-' or '_'")
	}
	if e.OccurredAt.IsZero() {
		return fieldErr("occurred_at", "required")
	}
	if len(e.Source.System) > 128 || len(e.Source.MessageID) > 256 || len(e.Source.Remote) > 128 || len(e.Source.Certificate) > 1024 {
		return fieldErr("source", "too long")
	}
	if len(e.CorrelationID) > 128 || len(e.CausationID) > 128 {
		return fieldErr("correlation_id", "too long")
	}
	if len(e.Data) > MaxEventSize {
		return fieldErr("data", "larger than %d bytes", MaxEventSize)
	}
	if _, ok := lookup(e.Type); !ok {
		return fmt.Errorf("%w: %q", ErrUnknownType, e.Type)
	}
	return nil
}

// Payload decodes the event's data into its typed payload, upcasting older
// schema versions to the current one.
//
// The returned payload of an event read from a ledger is shared by every
// copy of the event: treat it as read-only.
func (e *Event) Payload() (Payload, error) {
	if e.decoded != nil {
		if c := e.decoded.v.Load(); c != nil && c.fp == fingerprintOf(e) {
			return c.p, nil
		}
	}
	p, err := e.decodePayload(false)
	if err == nil && e.decoded != nil {
		e.decoded.v.Store(&payloadAt{fp: fingerprintOf(e), p: p})
	}
	return p, err
}

// decodePayload decodes the data; strict (validation of an event about to
// be written) refuses fields the payload type does not have. Reading does
// not check that again: every stored payload was checked when it was
// written, and the hash chain shows whether it changed since.
func (e *Event) decodePayload(strict bool) (Payload, error) {
	d, ok := lookup(e.Type)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, e.Type)
	}
	data := e.Data
	v := e.SchemaVersion
	if v == 0 {
		return nil, fieldErr("schema_version", "required")
	}
	if v > d.version {
		return nil, fieldErr("schema_version", "%d is newer than this build knows (%d)", v, d.version)
	}
	for ; v < d.version; v++ {
		up := d.upcasters[v]
		if up == nil {
			return nil, fieldErr("schema_version", "no upcaster from version %d of %s", v, e.Type)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("upcast %s v%d: %w", e.Type, v, err)
		}
	}
	p := d.new()
	if !strict {
		if err := fastjson.Unmarshal(data, p); err != nil {
			return nil, &FieldError{Field: "data", Reason: err.Error()}
		}
		return p, nil
	}
	dec := fastjson.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, &FieldError{Field: "data", Reason: err.Error()}
	}
	return p, nil
}

// Encode returns the canonical bytes of the event as stored in the ledger:
// the envelope without Position and Hash, keys in a fixed order and the
// payload in canonical JSON (sorted keys, no insignificant space). The hash
// chain is computed over exactly these bytes, so it never depends on how a
// later build would re-encode the event.
//
// Encode expects Data to be canonical already (Canonicalize does that);
// it does not re-check, because the ledger encodes on its commit path.
func (e *Event) Encode() ([]byte, error) {
	b, ok := e.appendEnvelope(make([]byte, 0, 256+len(e.Data)))
	if !ok {
		var err error
		if b, err = json.Marshal(e); err != nil {
			return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
		}
	}
	if len(b) > MaxEventSize {
		return nil, fieldErr("data", "encoded event is %d bytes, larger than %d", len(b), MaxEventSize)
	}
	return b, nil
}

// Canonicalize rewrites Data in canonical JSON; see Canonical.
func (e *Event) Canonicalize() error {
	if e.payloadChecked() {
		return nil
	}
	data, err := Canonical(e.Data)
	if err != nil {
		return &FieldError{Field: "data", Reason: err.Error()}
	}
	e.Data = data
	return nil
}

// Decode parses stored bytes back into an event; the caller sets Position
// and Hash from the storage metadata. It is on the replay hot path, so it
// uses goccy/go-json (a drop-in, faster decoder) rather than encoding/json.
//
// Events laid out as the ledger writes them take a faster path
// (decodeEnvelope); anything else goes through the general decoder.
func Decode(b []byte) (Event, error) {
	return decode(b, false, nil)
}

// PayloadCache holds the decoded payload of one event read from a ledger,
// shared by every copy of that event. DecodeStored takes one so that a
// reader can allocate them for a whole batch at once.
type PayloadCache struct{ d decodedPayload }

// DecodeStored is Decode for bytes that belong to the event from now on —
// a message a ledger client has just received and will not reuse: the
// event's strings share b instead of copying it (its Data and Raw share it
// anyway), so b must never be modified afterwards, and a projection that
// keeps one of those strings keeps all of b alive (copy it, as
// strings.Clone does, to keep a small part of many events). c, when not
// nil, is where the event caches its decoded payload.
func DecodeStored(b []byte, c *PayloadCache) (Event, error) {
	return decode(b, true, c)
}

func decode(b []byte, owned bool, c *PayloadCache) (Event, error) {
	e, ok := decodeEnvelope(b, owned)
	if !ok {
		var err error
		if e, err = decodeGeneral(b); err != nil {
			return Event{}, err
		}
	}
	if d, ok := lookup(e.Type); ok {
		e.Type = d.name
	}
	if c == nil {
		c = new(PayloadCache)
	}
	e.decoded = &c.d
	return e, nil
}

// decodeGeneral decodes any JSON envelope. It is its own function so that
// the event of the fast path does not escape to the heap with this one.
func decodeGeneral(b []byte) (Event, error) {
	var e Event
	if err := fastjson.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	return e, nil
}

// HashOf returns the chain hash of stored event bytes (hex SHA-256). The
// bytes include prev_hash, which is what links each event to the previous one.
func HashOf(stored []byte) string {
	sum := sha256.Sum256(stored)
	return hex.EncodeToString(sum[:])
}
