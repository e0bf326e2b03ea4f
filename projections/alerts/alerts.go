// Package alerts builds the alert queues of Relais from the ledger: it folds
// what the rules need to know (clients, consents, assignments, referrals,
// the directory, visit threads), derives alert facts from the events that
// call for one (an ED arrival of a flagged client, a pharmacist's concern, a
// referral...), and keeps each recipient's queue from the alert events.
//
// Derived alerts have deterministic ids (same cause, same recipient, same
// id) and are appended idempotently to their own stream alert-<id>, so a
// replay or a second Relais instance never duplicates them. They are
// appended before the runner's position moves past their cause (Stage
// keeps many in flight), so a failed append is retried and nothing derived
// is lost. The queue
// itself is built only from alert events read back from the ledger: the
// ledger is the single source of truth. The projection has no commands:
// acknowledging and escalating are services/alerting's.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/projections"
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
	// Location is where summaries tell the time (default America/Toronto).
	Location *time.Location
	// MaxAge: an arrival recorded this long after it happened (a history
	// import, a simulation) pages nobody (default 12 hours).
	MaxAge   time.Duration
	Notifier Notifier
	Log      *zap.Logger
}

// Alert is one alert as its recipient sees it.
type Alert struct {
	ID          string `json:"id"`
	ThreadID    string `json:"thread_id"`
	RecipientID string `json:"recipient_id"`
	Priority    string `json:"priority"`
	Kind        string `json:"kind"`
	ClientID    string `json:"client_id,omitempty"`
	Summary     string `json:"summary"`
	// Facts are the summary as data, for a reader's own language (nil on
	// alerts raised before facts existed, and once a partner's is withdrawn).
	Facts    *events.AlertFacts `json:"facts,omitempty"`
	RaisedAt time.Time          `json:"raised_at"`
	Amends   string             `json:"amends,omitempty"`
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

// Apply takes one event in global order in three steps: derive the alert
// facts it calls for from the state as it was before it (read-only), append
// them all, and only then fold the event and notify. An append that fails
// leaves the state untouched, so the runner's retry derives the same facts
// again (same ids: appends are idempotent) and nothing derived is lost.
func (p *Projection) Apply(ctx context.Context, e events.Event) error {
	p.mu.RLock()
	derived, err := p.derive(e)
	p.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := p.appendAll(ctx, derived); err != nil {
		return err
	}
	p.mu.Lock()
	notes := p.foldLocked(e)
	p.mu.Unlock()
	for _, u := range notes {
		p.notify(ctx, u)
	}
	return nil
}

// Stage is Apply pipelined (projections.Stager): it derives the facts e
// calls for from the state before e, folds e and notifies at once, and
// returns the appends of those facts as work for the runner to keep in
// flight beside other events' (many appends in flight are group-committed
// by the ledger). The rules read only the state and the alerts read back
// from the ledger, never the outcome of an append, so folding e before its
// facts are acknowledged derives the same facts for the events after it;
// the runner moves its position past e only once its facts are in, and
// retries the same facts (same ids: idempotent) when an append fails.
func (p *Projection) Stage(ctx context.Context, e events.Event) (*projections.Work, error) {
	p.mu.RLock()
	derived, err := p.derive(e)
	p.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	notes := p.foldLocked(e)
	p.mu.Unlock()
	for _, u := range notes {
		p.notify(ctx, u)
	}
	if len(derived) == 0 {
		return nil, nil
	}
	return &projections.Work{
		Run: func(ctx context.Context) error { return p.appendAll(ctx, derived) },
		Owed: func() ([]byte, error) {
			owed := make([]owedFact, len(derived))
			for i, d := range derived {
				b, err := d.ev.Encode()
				if err != nil {
					return nil, err
				}
				owed[i] = owedFact{AlertID: d.alertID, Event: b}
			}
			return json.Marshal(owed)
		},
	}, nil
}

var (
	_ projections.Stager   = (*Projection)(nil)
	_ projections.Reworker = (*Projection)(nil)
)

// owedFact is one derived fact a set-aside event still owes the ledger, as
// kept with its dead letter (projections.Work.Owed).
type owedFact struct {
	AlertID string          `json:"alert_id"`
	Event   json.RawMessage `json:"event"` // events.Event.Encode
}

// Rework appends the facts e still owed when its work was set aside
// (projections.Reworker): the very facts derived from the state before e,
// which the state now (e folded) may no longer derive. e is not folded again.
// When an owed fact can no longer be appended because its alert's stream
// holds another history (ledger.ErrWrongRevision: the cause of the set-aside
// was a stream taken by someone else, and the programme manager fixed it by
// changing who the alert is for, e.g. a reassignment), those facts will
// never land: e is then applied again against the state now, which derives
// the alert for whoever it is for today.
func (p *Projection) Rework(ctx context.Context, e events.Event, owed []byte) error {
	err := p.rework(ctx, e, owed)
	if errors.Is(err, ledger.ErrWrongRevision) {
		if aerr := p.Apply(ctx, e); aerr != nil {
			return fmt.Errorf("%w; applied again against the state now: %w", err, aerr)
		}
		return nil
	}
	return err
}

func (p *Projection) rework(ctx context.Context, e events.Event, owed []byte) error {
	var facts []owedFact
	if err := json.Unmarshal(owed, &facts); err != nil {
		return fmt.Errorf("alerts: the facts event %s owed: %w", e.ID, err)
	}
	ds := make([]derived, len(facts))
	for i, f := range facts {
		if f.AlertID == "" {
			return fmt.Errorf("alerts: the facts event %s owed: fact %d names no alert", e.ID, i)
		}
		ev, err := events.Decode(f.Event)
		if err != nil {
			return fmt.Errorf("alerts: the facts event %s owed: fact %d (alert %s): %w", e.ID, i, f.AlertID, err)
		}
		ds[i] = derived{alertID: f.AlertID, ev: ev}
	}
	return p.appendAll(ctx, ds)
}

func (p *Projection) appendAll(ctx context.Context, ds []derived) error {
	for _, d := range ds {
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

// Overdue lists the ids of pending high-priority alerts raised at or
// before cutoff and not yet escalated, oldest first: the candidates of the
// escalation sweep, which decides on each from its own stream.
func (p *Projection) Overdue(cutoff time.Time) []string {
	var ids []string
	for _, a := range p.Unacknowledged() {
		if a.EscalatedTo == "" && !a.RaisedAt.After(cutoff) {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

// Managers lists the programme managers, or the general on-call queue when
// there are none: who hears of feed trouble and of escalations.
func (p *Projection) Managers() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]string(nil), p.managers()...)
}

// FeedLastSeen reports when the last hospital event from facility was
// recorded and at which ledger position (ok false: never heard from).
func (p *Projection) FeedLastSeen(facility string) (at time.Time, pos uint64, ok bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	f := p.st.feeds[facility]
	if f == nil {
		return time.Time{}, 0, false
	}
	return f.lastSeen, f.lastPos, true
}

// Count returns how many alerts the projection holds.
func (p *Projection) Count() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.alerts)
}
