package alerting

import (
	"time"
)

// FeedHealth is one watched hospital feed as the sweep sees it: when it was
// last heard from, whether arrivals are expected now (its hours), and
// whether its silence is already beyond FeedSilence, which is what raises
// a feed.silent alert at the next sweep.
type FeedHealth struct {
	Facility string `json:"facility"`
	// Heard is false for a feed never heard from since the ledger began.
	Heard        bool      `json:"heard"`
	LastSeen     time.Time `json:"last_seen,omitzero"`
	LastPosition uint64    `json:"last_position,omitempty"`
	// SilentSeconds is how long the feed has been silent (0 when never
	// heard from).
	SilentSeconds int64 `json:"silent_seconds"`
	// Expecting: now is within the facility's hours.
	Expecting bool `json:"expecting"`
	// Hours are the local hours [from, to) arrivals are expected, in Zone.
	Hours [2]int `json:"hours"`
	Zone  string `json:"zone"`
	// SilenceAfterSeconds is FeedSilence: a silence this long during the
	// hours raises the alarm.
	SilenceAfterSeconds int64 `json:"silence_after_seconds"`
	// Silent: heard before, expected now, and silent beyond FeedSilence.
	Silent bool `json:"silent"`
}

// Feeds is the health of every watched feed, in the order of
// Config.Facilities, as of now.
func (s *Service) Feeds() []FeedHealth {
	now := s.cfg.Now()
	out := make([]FeedHealth, 0, len(s.cfg.Facilities))
	for _, fac := range s.cfg.Facilities {
		hours, loc := s.cfg.FeedHours, s.cfg.Location
		if w, ok := s.cfg.FeedWindows[fac]; ok {
			if w.Hours != [2]int{} {
				hours = w.Hours
			}
			if w.Location != nil {
				loc = w.Location
			}
		}
		h := FeedHealth{Facility: fac, Expecting: s.expecting(fac, now), Hours: hours, Zone: loc.String(),
			SilenceAfterSeconds: int64(s.cfg.FeedSilence / time.Second)}
		if s.f != nil {
			if seen, pos, ok := s.f.FeedLastSeen(fac); ok {
				h.Heard, h.LastSeen, h.LastPosition = true, seen, pos
				h.SilentSeconds = int64(max(now.Sub(seen), 0) / time.Second)
				h.Silent = h.Expecting && now.Sub(seen) >= s.cfg.FeedSilence
			}
		}
		out = append(out, h)
	}
	return out
}
