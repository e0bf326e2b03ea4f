package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/relais-health/relais/events"
	"github.com/relais-health/relais/infra/ledger"
	svcdirectory "github.com/relais-health/relais/services/directory"
)

// EnsureAdmin makes sure the directory has an administrator. With
// RELAIS_ADMIN_TOKEN set, that token is the admin's (registered, or rotated
// in if it changed); otherwise, on first start only, a token is generated
// and printed once on w.
func EnsureAdmin(ctx context.Context, l ledger.Ledger, w io.Writer) error {
	want := os.Getenv("RELAIS_ADMIN_TOKEN")
	history, err := l.Read(ctx, events.AdminStream, 1)
	if err != nil && !errors.Is(err, ledger.ErrStreamNotFound) {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if len(history) > 0 {
		// The stream may hold rotations and revocations after the
		// registration: the admin's token is what they fold to.
		cur, err := svcdirectory.Fold(history)
		if err != nil {
			return fmt.Errorf("bootstrap admin: %w", err)
		}
		if want == "" || cur.TokenHash == svcdirectory.HashToken(want) {
			return nil
		}
	}
	token, generated := want, false
	if token == "" {
		if token, err = svcdirectory.NewToken(); err != nil {
			return err
		}
		generated = true
	}
	if len(token) < 16 {
		return errors.New("RELAIS_ADMIN_TOKEN: at least 16 characters")
	}
	// The first start registers the admin; a changed RELAIS_ADMIN_TOKEN
	// is an audited rotation by Relais itself. The bootstrap token does
	// not expire (it is how an administrator gets back in).
	var p events.Payload = &events.StaffRegistered{StaffID: "admin", Role: events.RoleAdmin, Name: "Administrateur / Administrator", TokenHash: svcdirectory.HashToken(token)}
	if len(history) > 0 {
		p = &events.TokenRotated{ID: "admin", TokenHash: svcdirectory.HashToken(token)}
	}
	e, err := events.New(p, events.Actor{ID: "relais", Role: events.RoleSystem})
	if err != nil {
		return err
	}
	if _, err := l.Append(ctx, events.AdminStream, int64(len(history)), e); err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	if generated {
		fmt.Fprintf(w, "\nPremier démarrage — jeton administrateur / first start — administrator token (shown once):\n\n    %s\n\n"+
			"Use it as 'Authorization: Bearer <token>'. Set RELAIS_ADMIN_TOKEN to choose or rotate it.\n\n", token)
	}
	return nil
}
