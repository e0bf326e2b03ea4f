package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A credential given on the command line (in a --nats or --nats-system
// URL) is warned about, naming the environment variable that keeps it out
// of the process list; one given in the environment, or a URL without
// one, is not.
func TestACredentialOnTheCommandLineIsWarnedAbout(t *testing.T) {
	const closed = "127.0.0.1:1" // nothing listens: the command fails after the warning
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // in stderr; "" none
	}{
		{"password in --nats", []string{"--nats", "nats://app:secret@" + closed}, nil, "RELAIS_NATS_URL"},
		{"token in --nats, second of two URLs", []string{"--nats", "nats://" + closed + ",nats://tok3n@" + closed}, nil, "RELAIS_NATS_URL"},
		{"password in --nats-system", []string{"--nats", "nats://" + closed, "--nats-system", "nats://sys:sys@" + closed}, nil, "RELAIS_NATS_SYSTEM"},
		{"no credential", []string{"--nats", "nats://" + closed}, nil, ""},
		{"password in the environment", nil, map[string]string{"RELAIS_NATS_URL": "nats://app:secret@" + closed}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			root := newRoot()
			root.SetOut(&out)
			root.SetErr(&errOut)
			root.SetArgs(append([]string{"verify", "--log-level", "error"}, tc.args...))
			root.ExecuteContext(context.Background()) //nolint:errcheck // nothing listens
			got := errOut.String()
			if tc.want == "" {
				if strings.Contains(got, "warning: --") {
					t.Fatalf("warned without a credential on the command line: %q", got)
				}
				return
			}
			if !strings.Contains(got, "carries a credential") || !strings.Contains(got, tc.want) {
				t.Fatalf("stderr %q: want a warning naming %s", got, tc.want)
			}
			if strings.Contains(got, "secret") || strings.Contains(got, "tok3n") {
				t.Fatalf("the warning repeats the credential: %q", got)
			}
		})
	}
}
