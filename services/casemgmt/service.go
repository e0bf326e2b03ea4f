package casemgmt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	"github.com/relais-health/relais/services"
)

// Service handles case-management commands.
type Service struct {
	l             ledger.Appender
	now           func() time.Time
	patientSecret []byte
}

// New returns the service; now defaults to time.Now.
func New(l ledger.Appender, now func() time.Time, opts ...Option) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{l: l, now: now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// decision turns the client's state into payloads to record, or refuses.
type decision func(c Client) ([]events.Payload, error)

// update loads the client, decides, and appends with the expected revision.
func (s *Service) update(ctx context.Context, actor events.Actor, clientID string, mustExist bool, d decision) (ledger.Result, error) {
	if !events.ValidStreamName(clientID) || len(clientID) > 64 {
		return ledger.Result{}, fmt.Errorf("%w: client id %q: 1-64 letters, digits, '-' or '_'", services.ErrBadRequest, clientID)
	}
	res, err := ledger.Update(ctx, s.l, events.ClientStream(clientID), func(history []events.Event) ([]events.Event, error) {
		c := Fold(history)
		if mustExist && !c.Registered {
			return nil, fmt.Errorf("%w: client %s", services.ErrNotFound, clientID)
		}
		if c.MergedInto != "" {
			return nil, fmt.Errorf("%w: client %s was merged into client %s; record it there", services.ErrRuleBroken, clientID, c.MergedInto)
		}
		ps, err := d(c)
		if err != nil {
			return nil, err
		}
		evs := make([]events.Event, len(ps))
		for i, p := range ps {
			e, err := events.New(p, actor)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", services.ErrBadRequest, err)
			}
			evs[i] = e
		}
		return evs, nil
	})
	return res, err
}

// open refuses changes to a closed case.
func open(c Client, what string) error {
	if c.Closed {
		return fmt.Errorf("%w: %s on a closed case (client %s)", services.ErrRuleBroken, what, c.ID)
	}
	return nil
}

func one(p events.Payload) ([]events.Payload, error) { return []events.Payload{p}, nil }

// RegisterClient records a new client; an empty ClientID gets a new id.
// The patient keys are derived from the identifiers (a caller's are
// refused), and an identifier another client holds refuses the
// registration (see register.go).
func (s *Service) RegisterClient(ctx context.Context, actor events.Actor, r events.ClientRegistered) (ledger.Result, error) {
	if r.ClientID == "" {
		r.ClientID = "c" + uuid.NewString()[:8]
	}
	return s.register(ctx, actor, r)
}

// Flag puts the client on a programme's watch list.
func (s *Service) Flag(ctx context.Context, actor events.Actor, r events.ClientFlagged) (ledger.Result, error) {
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if c.Flagged[r.Programme] {
			return nil, nil
		}
		return one(&r)
	})
}

// Unflag takes the client off a watch list.
func (s *Service) Unflag(ctx context.Context, actor events.Actor, r events.ClientUnflagged) (ledger.Result, error) {
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if !c.Flagged[r.Programme] {
			return nil, fmt.Errorf("%w: client %s is not flagged for %s", services.ErrRuleBroken, r.ClientID, r.Programme)
		}
		return one(&r)
	})
}

// RecordContact records a contact with the client.
func (s *Service) RecordContact(ctx context.Context, actor events.Actor, r events.ContactMade) (ledger.Result, error) {
	if r.At.IsZero() {
		r.At = s.now().UTC()
	}
	if r.StaffID == "" {
		r.StaffID = actor.ID
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) { return one(&r) })
}

// CompleteAssessment records the assessment and support network.
func (s *Service) CompleteAssessment(ctx context.Context, actor events.Actor, r events.AssessmentCompleted) (ledger.Result, error) {
	if r.StaffID == "" {
		r.StaffID = actor.ID
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if err := open(c, "assessment"); err != nil {
			return nil, err
		}
		return one(&r)
	})
}

// Enrol enrols a flagged client with initial consents.
func (s *Service) Enrol(ctx context.Context, actor events.Actor, r events.ClientEnrolled) (ledger.Result, error) {
	if r.EnrolledAt.IsZero() {
		r.EnrolledAt = s.now().UTC()
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if !c.Flagged[r.Programme] {
			return nil, fmt.Errorf("%w: client %s must be flagged for %s before enrolment", services.ErrRuleBroken, r.ClientID, r.Programme)
		}
		if c.Enrolled != "" && !c.Closed {
			return nil, fmt.Errorf("%w: client %s is already enrolled", services.ErrRuleBroken, r.ClientID)
		}
		return one(&r)
	})
}

// GrantConsent records a consent for a partner category.
func (s *Service) GrantConsent(ctx context.Context, actor events.Actor, r events.ConsentGranted) (ledger.Result, error) {
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) { return one(&r) })
}

// RevokeConsent withdraws a consent that was granted.
func (s *Service) RevokeConsent(ctx context.Context, actor events.Actor, r events.ConsentRevoked) (ledger.Result, error) {
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if !c.Consented(r.Category) {
			return nil, fmt.Errorf("%w: client %s has not consented to %s", services.ErrRuleBroken, r.ClientID, r.Category)
		}
		return one(&r)
	})
}

// AssignCaseManager assigns a staff member with the case manager role.
func (s *Service) AssignCaseManager(ctx context.Context, actor events.Actor, r events.CaseManagerAssigned) (ledger.Result, error) {
	if err := s.staffHasRole(ctx, r.StaffID, events.RoleCaseManager); err != nil {
		return ledger.Result{}, err
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if err := open(c, "assignment"); err != nil {
			return nil, err
		}
		return one(&r)
	})
}

// AssignPivotWorker assigns the pivot worker (any care staff).
func (s *Service) AssignPivotWorker(ctx context.Context, actor events.Actor, r events.PivotWorkerAssigned) (ledger.Result, error) {
	if err := s.staffHasRole(ctx, r.StaffID, events.RolePivotWorker, events.RoleCaseManager); err != nil {
		return ledger.Result{}, err
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if err := open(c, "assignment"); err != nil {
			return nil, err
		}
		return one(&r)
	})
}

// CreatePlan opens a service plan.
func (s *Service) CreatePlan(ctx context.Context, actor events.Actor, r events.PlanCreated) (ledger.Result, error) {
	if r.PlanID == "" {
		r.PlanID = "plan-" + uuid.NewString()[:8]
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if err := open(c, "plan"); err != nil {
			return nil, err
		}
		if c.Plans[r.PlanID] {
			return nil, fmt.Errorf("%w: plan %s exists", services.ErrRuleBroken, r.PlanID)
		}
		return one(&r)
	})
}

// AddObjective adds an objective to a plan.
func (s *Service) AddObjective(ctx context.Context, actor events.Actor, r events.ObjectiveAdded) (ledger.Result, error) {
	if r.ObjectiveID == "" {
		r.ObjectiveID = "obj-" + uuid.NewString()[:8]
	}
	if r.ResponsiblePartner != "" {
		if _, err := s.partnerCategory(ctx, r.ResponsiblePartner); err != nil {
			return ledger.Result{}, err
		}
	}
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if err := open(c, "objective"); err != nil {
			return nil, err
		}
		if !c.Plans[r.PlanID] {
			return nil, fmt.Errorf("%w: plan %s of client %s", services.ErrNotFound, r.PlanID, r.ClientID)
		}
		if _, dup := c.Objectives[r.ObjectiveID]; dup {
			return nil, fmt.Errorf("%w: objective %s exists", services.ErrRuleBroken, r.ObjectiveID)
		}
		return one(&r)
	})
}

func openObjective(c Client, id string) error {
	if err := open(c, "objective"); err != nil {
		return err
	}
	st, ok := c.Objectives[id]
	if !ok {
		return fmt.Errorf("%w: objective %s of client %s", services.ErrNotFound, id, c.ID)
	}
	if st != "open" {
		return fmt.Errorf("%w: objective %s is already %s", services.ErrRuleBroken, id, st)
	}
	return nil
}

// MeetObjective marks an open objective met.
func (s *Service) MeetObjective(ctx context.Context, actor events.Actor, r events.ObjectiveMet) (ledger.Result, error) {
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if err := openObjective(c, r.ObjectiveID); err != nil {
			return nil, err
		}
		return one(&r)
	})
}

// AbandonObjective drops an open objective.
func (s *Service) AbandonObjective(ctx context.Context, actor events.Actor, r events.ObjectiveAbandoned) (ledger.Result, error) {
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if err := openObjective(c, r.ObjectiveID); err != nil {
			return nil, err
		}
		return one(&r)
	})
}

// Close closes the case.
func (s *Service) Close(ctx context.Context, actor events.Actor, r events.CaseClosed) (ledger.Result, error) {
	return s.update(ctx, actor, r.ClientID, true, func(c Client) ([]events.Payload, error) {
		if err := open(c, "closing"); err != nil {
			return nil, err
		}
		return one(&r)
	})
}

func isPartner(a events.Actor) bool { return slices.Contains(events.Categories, a.Role) }

// staffHasRole checks the directory entry of a staff member.
func (s *Service) staffHasRole(ctx context.Context, id string, roles ...string) error {
	if !events.ValidStreamName(id) {
		return fmt.Errorf("%w: staff id %q", services.ErrBadRequest, id)
	}
	evs, err := s.l.Read(ctx, events.StaffStream(id), 1)
	if errors.Is(err, ledger.ErrStreamNotFound) {
		return fmt.Errorf("%w: staff member %s", services.ErrNotFound, id)
	}
	if err != nil {
		return err
	}
	p, err := evs[len(evs)-1].Payload()
	if err != nil {
		return err
	}
	if role := p.(*events.StaffRegistered).Role; !slices.Contains(roles, role) {
		return fmt.Errorf("%w: staff member %s is a %s; this needs the role %s", services.ErrBadRequest, id, role, strings.Join(roles, " or "))
	}
	return nil
}

// partnerCategory reads a partner's category from the directory.
func (s *Service) partnerCategory(ctx context.Context, id string) (string, error) {
	if !events.ValidStreamName(id) {
		return "", fmt.Errorf("%w: partner id %q", services.ErrBadRequest, id)
	}
	evs, err := s.l.Read(ctx, events.PartnerStream(id), 1)
	if errors.Is(err, ledger.ErrStreamNotFound) {
		return "", fmt.Errorf("%w: partner %s", services.ErrNotFound, id)
	}
	if err != nil {
		return "", err
	}
	p, err := evs[len(evs)-1].Payload()
	if err != nil {
		return "", err
	}
	return p.(*events.PartnerRegistered).Category, nil
}
