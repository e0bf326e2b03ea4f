// Package alerts builds the alert queues of Relais from the ledger: it folds
// what the rules need to know (clients, consents, assignments, referrals,
// the directory, visit threads), derives alert facts from the events that
// call for one (an ED arrival of a flagged client, a pharmacist's concern, a
// referral...), and keeps each recipient's queue from the alert events.
//
// Derived alerts have deterministic ids (same cause, same recipient, same
// id) and are appended idempotently to their own stream alert-<id>, so a
// replay or a second Relais instance never duplicates them. The queue itself
// is built only from alert events read back from the ledger: the ledger is
// the single source of truth.
package alerts

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
)

// Ledger is what the projection needs to append derived alert facts.
type Ledger interface {
	Append(ctx context.Context, stream string, expected int64, evs ...events.Event) (ledger.Result, error)
	Read(ctx context.Context, stream string, from uint64) ([]events.Event, error)
}

// Notifier is told of every change to an alert, per recipient, after the
// change is applied (delivery: SSE, NATS subjects, webhooks). Notify must
// not block: the projection calls it in ledger order.
type Notifier interface {
	Notify(ctx context.Context, u Update)
}

// Config tunes the rules.
type Config struct {
	// EscalateAfter: a high-priority alert not acknowledged by then is
	// escalated (default 15 minutes).
	EscalateAfter time.Duration
	// FeedSilence: a hospital feed silent this long during FeedHours raises
	// an alert (default 2 hours).
	FeedSilence time.Duration
	// FeedHours: local hours [from, to) when arrivals are expected
	// (default 7 to 23), in Location (default America/Toronto).
	FeedHours [2]int
	Location  *time.Location
	// Facilities watched for silence.
	Facilities []string
	// MaxAge: an arrival recorded this long after it happened (a history
	// import, a simulation) pages nobody (default 12 hours).
	MaxAge   time.Duration
	Notifier Notifier
	Log      *zap.Logger
}

// Alert is one alert as its recipient sees it.
type Alert struct {
	ID          string    `json:"id"`
	ThreadID    string    `json:"thread_id"`
	RecipientID string    `json:"recipient_id"`
	Priority    string    `json:"priority"`
	Kind        string    `json:"kind"`
	ClientID    string    `json:"client_id,omitempty"`
	Summary     string    `json:"summary"`
	RaisedAt    time.Time `json:"raised_at"`
	Amends      string    `json:"amends,omitempty"`
	// Status follows the visit thread: arrived, updated, admitted, ended,
	// discharged, discharge cancelled (the alert is not re-sent for these).
	Status         string    `json:"status,omitempty"`
	Acknowledged   bool      `json:"acknowledged"`
	AcknowledgedBy string    `json:"acknowledged_by,omitempty"`
	AcknowledgedAt time.Time `json:"acknowledged_at,omitzero"`
	EscalatedTo    string    `json:"escalated_to,omitempty"`
	Withdrawn      bool      `json:"withdrawn"`
	WithdrawReason string    `json:"withdraw_reason,omitempty"`
	// Position is the ledger position of the alert's last change.
	Position uint64 `json:"position"`
}

// Pending reports whether the alert still waits for its recipient.
func (a Alert) Pending() bool { return !a.Acknowledged && !a.Withdrawn }

// Update is one change of an alert for one recipient.
type Update struct {
	// Seq orders a recipient's updates: ledger position × 1000 plus the
	// rank among that recipient's updates from the same event. It is the
	// SSE event id, stable across restarts and instances.
	Seq       uint64 `json:"seq"`
	Position  uint64 `json:"position"`
	Recipient string `json:"recipient"`
	// Change: raised, acknowledged, escalated, withdrawn, thread.
	Change string `json:"change"`
	Alert  Alert  `json:"alert"`
	// At is when the event that made the change was recorded.
	At time.Time `json:"at"`
	// Webhook is the recipient's webhook URL as the directory stood at this
	// change (partners only; never sent to anyone).
	Webhook string `json:"-"`
}

// maxUpdates bounds each recipient's change log kept for SSE resumption.
const maxUpdates = 2000

// Projection is the alert read model and rule engine.
type Projection struct {
	l   Ledger
	cfg Config

	mu          sync.RWMutex
	st          *state
	alerts      map[string]*Alert
	byRecipient map[string][]string
	updates     map[string][]Update
	lastPos     uint64
}

// New returns an empty projection.
func New(l Ledger, cfg Config) *Projection {
	if cfg.EscalateAfter == 0 {
		cfg.EscalateAfter = 15 * time.Minute
	}
	if cfg.FeedSilence == 0 {
		cfg.FeedSilence = 2 * time.Hour
	}
	if cfg.FeedHours == [2]int{} {
		cfg.FeedHours = [2]int{7, 23}
	}
	if cfg.Location == nil {
		cfg.Location, _ = time.LoadLocation("America/Toronto")
		if cfg.Location == nil {
			cfg.Location = time.UTC
		}
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Projection{l: l, cfg: cfg, st: newState(), alerts: map[string]*Alert{},
		byRecipient: map[string][]string{}, updates: map[string][]Update{}}
}

// Apply folds one event in global order, derives the alerts it calls for
// (appending them to the ledger), and applies alert events to the queues.
func (p *Projection) Apply(ctx context.Context, e events.Event) error {
	if strings.HasPrefix(e.Type, "alert.") {
		return p.applyAlert(ctx, e)
	}
	p.mu.Lock()
	derived, notes := p.derive(e)
	p.st.fold(e)
	p.lastPos = e.Position
	p.mu.Unlock()
	for _, u := range notes {
		p.notify(ctx, u)
	}
	for _, d := range derived {
		if err := p.append(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

func (p *Projection) notify(ctx context.Context, u Update) {
	if p.cfg.Notifier != nil {
		p.cfg.Notifier.Notify(ctx, u)
	}
}

// Queue lists a recipient's alerts (including those escalated to it),
// newest first.
func (p *Projection) Queue(recipient string) []Alert {
	p.mu.RLock()
	defer p.mu.RUnlock()
	ids := p.byRecipient[recipient]
	out := make([]Alert, 0, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		out = append(out, *p.alerts[ids[i]])
	}
	return out
}

// Get returns one alert.
func (p *Projection) Get(id string) (Alert, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	a, ok := p.alerts[id]
	if !ok {
		return Alert{}, false
	}
	return *a, true
}

// Since returns the recipient's alert changes after seq (see Update.Seq),
// in order: the backlog of a resumed SSE stream.
func (p *Projection) Since(recipient string, seq uint64) []Update {
	p.mu.RLock()
	defer p.mu.RUnlock()
	log := p.updates[recipient]
	i := sort.Search(len(log), func(i int) bool { return log[i].Seq > seq })
	return append([]Update(nil), log[i:]...)
}

// Unacknowledged lists pending high-priority alerts of every queue, oldest
// first (the programme manager's view).
func (p *Projection) Unacknowledged() []Alert {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out []Alert
	for _, a := range p.alerts {
		if a.Pending() && a.Priority == events.PriorityHigh {
			out = append(out, *a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RaisedAt.Before(out[j].RaisedAt) })
	return out
}

// Count returns how many alerts the projection holds.
func (p *Projection) Count() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.alerts)
}
