package hl7

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultZone is the time zone of HL7 times without an offset when the
// facility does not name one.
const DefaultZone = "America/Montreal"

// Visit-key sources, in the default fallback order: the visit number, the
// alternate visit id, the patient account number, and the admit time (with
// the patient's first identifier, since two patients can arrive the same
// minute).
const (
	KeyVisitNumber    = "PV1-19"
	KeyAlternateVisit = "PV1-50"
	KeyAccountNumber  = "PID-18"
	KeyAdmitTime      = "PV1-44"
)

// DefaultVisitKeys is the visit-key fallback order of a facility that does
// not set one.
var DefaultVisitKeys = []string{KeyVisitNumber, KeyAlternateVisit, KeyAccountNumber, KeyAdmitTime}

// DefaultTerritoryAuthorities are the identifier authorities that name a
// person across the whole territory (the Québec health-insurance number):
// their identifiers are not scoped by facility.
var DefaultTerritoryAuthorities = []string{"RAMQ"}

// Charsets a facility can declare: auto reads UTF-8 and, when the message
// is not valid UTF-8, Windows-1252 (a superset of Latin-1's printable
// characters, what Windows tools in Québec write).
var Charsets = []string{"auto", "utf-8", "iso-8859-1", "windows-1252"}

// Facility is what Relais knows of one sending facility (MSH-4.1).
type Facility struct {
	ID string
	// Networks the facility's messages may come from (empty: see Sources).
	Networks []netip.Prefix
	// Certificates are the client-certificate names (CN or DNS SAN) that
	// speak for the facility, besides its id.
	Certificates []string
	// Location reads HL7 times without an offset (default DefaultZone).
	Location *time.Location
	// Charset of messages without MSH-18 (default auto).
	Charset string
	// Hours is when arrivals are expected, [from, to) local hours, for the
	// feed-silence alarm (zero: the alarm's default).
	Hours [2]int
	// VisitKeys is the visit-key fallback order (default DefaultVisitKeys).
	VisitKeys []string
	// Line is where the facility is declared in its file (0 from a flag).
	Line int
}

// Facilities is the per-facility configuration (--facilities FILE, or the
// --hl7-facilities short form with defaults for everything else).
type Facilities struct {
	list []Facility
	// TerritoryAuthorities are not scoped by facility in patient keys.
	TerritoryAuthorities []string
	// Now is the clock impossible times are judged by (default time.Now).
	Now      func() time.Time
	defaults Facility
}

// NewFacilities configures ids with defaults for everything but their id.
func NewFacilities(ids ...string) *Facilities {
	fs := &Facilities{TerritoryAuthorities: DefaultTerritoryAuthorities, defaults: defaultFacility("")}
	for _, id := range ids {
		fs.list = append(fs.list, defaultFacility(id))
	}
	return fs
}

func defaultFacility(id string) Facility {
	loc, err := time.LoadLocation(DefaultZone)
	if err != nil {
		loc = time.UTC // no zone database: the binary embeds none (see main's time/tzdata)
	}
	return Facility{ID: id, Location: loc, Charset: "auto", VisitKeys: DefaultVisitKeys}
}

// IDs lists the configured facilities, in file order.
func (fs *Facilities) IDs() []string {
	if fs == nil {
		return nil
	}
	out := make([]string, 0, len(fs.list))
	for _, f := range fs.list {
		out = append(out, f.ID)
	}
	return out
}

// All returns the configured facilities, in file order.
func (fs *Facilities) All() []Facility {
	if fs == nil {
		return nil
	}
	return slices.Clone(fs.list)
}

// For returns the configuration of facility id, and whether it is
// configured; an unknown facility gets the defaults (its message is then
// refused, but it is still read to be answered).
func (fs *Facilities) For(id string) (Facility, bool) {
	if fs == nil {
		return defaultFacility(id), false
	}
	for _, f := range fs.list {
		if f.ID == id {
			return f, true
		}
	}
	d := fs.defaults
	d.ID = id
	return d, false
}

// Networks is the per-facility source networks, as Sources wants them.
func (fs *Facilities) Networks() map[string][]netip.Prefix {
	out := map[string][]netip.Prefix{}
	for _, f := range fs.All() {
		if len(f.Networks) > 0 {
			out[f.ID] = slices.Clone(f.Networks)
		}
	}
	return out
}

// Names is, per facility, the certificate names that speak for it besides
// its id.
func (fs *Facilities) Names() map[string][]string {
	out := map[string][]string{}
	for _, f := range fs.All() {
		if len(f.Certificates) > 0 {
			out[f.ID] = slices.Clone(f.Certificates)
		}
	}
	return out
}

// ParseFacilities reads a facilities file. The format is one section per
// facility, its id (MSH-4.1, spaces and punctuation allowed) in brackets,
// then key = value lines; # starts a comment; keys before the first
// section are global:
//
//	territory-authorities = RAMQ
//
//	[HSTA]
//	sources     = 10.0.0.0/24, 10.0.9.7
//	certificate = hsta-interface.example.org
//	timezone    = America/Montreal
//	charset     = windows-1252
//	hours       = 7-23
//	visit-key   = PV1-19, PID-18
//
// Every error names its line.
func ParseFacilities(r io.Reader, name string) (*Facilities, error) {
	fs := NewFacilities()
	sc := bufio.NewScanner(r)
	var cur *Facility
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: %s:%d: %s", ErrFacilityConfig, name, n, fmt.Sprintf(format, a...))
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, bad("section %q: want [FACILITY]", line)
			}
			id := strings.TrimSpace(line[1 : len(line)-1])
			if id == "" {
				return nil, bad("empty facility id")
			}
			if f, dup := fs.For(id); dup {
				return nil, bad("facility %q already declared on line %d", id, f.Line)
			}
			fs.list = append(fs.list, defaultFacility(id))
			cur = &fs.list[len(fs.list)-1]
			cur.Line = n
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, bad("%q: want key = value", line)
		}
		key, value = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(value)
		if cur == nil {
			if key != "territory-authorities" {
				return nil, bad("%q outside a [FACILITY] section (only territory-authorities is global)", key)
			}
			fs.TerritoryAuthorities = splitValues(value)
			continue
		}
		if err := cur.set(key, value); err != nil {
			return nil, bad("%s: %v", key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFacilityConfig, name, err)
	}
	if len(fs.list) == 0 {
		return nil, fmt.Errorf("%w: %s: no [FACILITY] section", ErrFacilityConfig, name)
	}
	return fs, nil
}

func (f *Facility) set(key, value string) error {
	switch key {
	case "sources":
		for _, v := range splitValues(value) {
			p, err := parsePrefix(v)
			if err != nil {
				return err
			}
			f.Networks = append(f.Networks, p)
		}
	case "certificate":
		for _, v := range strings.Split(value, ",") {
			if v = strings.TrimSpace(v); v != "" {
				f.Certificates = append(f.Certificates, v)
			}
		}
	case "timezone":
		loc, err := time.LoadLocation(value)
		if err != nil {
			return fmt.Errorf("unknown time zone %q", value)
		}
		f.Location = loc
	case "charset":
		c := strings.ToLower(value)
		if c == "latin-1" || c == "latin1" {
			c = "iso-8859-1"
		}
		if !slices.Contains(Charsets, c) {
			return fmt.Errorf("%q: want one of %s", value, strings.Join(Charsets, ", "))
		}
		f.Charset = c
	case "hours":
		from, to, ok := strings.Cut(value, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(from))
		b, err2 := strconv.Atoi(strings.TrimSpace(to))
		if !ok || err1 != nil || err2 != nil || a < 0 || b > 24 || a >= b {
			return fmt.Errorf("%q: want FROM-TO local hours, 0 <= FROM < TO <= 24", value)
		}
		f.Hours = [2]int{a, b}
	case "visit-key":
		keys := splitValues(value)
		for _, k := range keys {
			if !slices.Contains(DefaultVisitKeys, strings.ToUpper(k)) {
				return fmt.Errorf("%q: want some of %s", k, strings.Join(DefaultVisitKeys, ", "))
			}
		}
		if len(keys) == 0 {
			return fmt.Errorf("empty")
		}
		f.VisitKeys = nil
		for _, k := range keys {
			f.VisitKeys = append(f.VisitKeys, strings.ToUpper(k))
		}
	default:
		return fmt.Errorf("unknown key (want sources, certificate, timezone, charset, hours or visit-key)")
	}
	return nil
}

func splitValues(s string) []string {
	var out []string
	for _, v := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		out = append(out, v)
	}
	return out
}
