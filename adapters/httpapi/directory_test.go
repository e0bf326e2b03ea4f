package httpapi

import (
	"net/http"
	"testing"

	"github.com/relais-health/relais/events"
)

// explaining is an authenticator that says why it refuses a token.
type explaining struct{ tokens }

func (explaining) Refusal(token string) string {
	if token == "tok-old" {
		return "token expired at 2025-03-01T13:00:00Z"
	}
	return ""
}

func TestARefusedTokenSaysWhy(t *testing.T) {
	s := NewServer(explaining{testTokens}, nil)
	s.Handle("GET", "/v1/thing", []string{events.RoleCaseManager}, failing(nil))
	srv := newTestServer(t, s)
	for _, tc := range []struct{ name, token, message string }{
		{"an expired token is refused saying it expired", "tok-old", "token expired at 2025-03-01T13:00:00Z"},
		{"a token the authenticator does not explain is unknown or revoked", "tok-nobody", "unknown or revoked token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, srv, "GET", "/v1/thing", tc.token, "")
			if a.status != http.StatusUnauthorized || a.err.Error != tc.message {
				t.Fatalf("got %d %q, want 401 %q", a.status, a.err.Error, tc.message)
			}
		})
	}
}
