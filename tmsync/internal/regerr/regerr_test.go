package regerr

import (
	"errors"
	"fmt"
	"testing"

	"go.podman.io/image/v5/docker"
)

type inner struct{ StatusCode int }

func (inner) Error() string { return "inner" }

// promoted has a StatusCode only through an embedded pointer: not its own field.
type promoted struct{ *inner }

func (promoted) Error() string { return "promoted" }

type notInt struct{ StatusCode string }

func (notInt) Error() string { return "not an int" }

// TestClassifierStatus: the status is a struct's own int field StatusCode, found anywhere in the
// chain (pointer or value, wrapped, joined), first in chain order; a field promoted from
// an embedded pointer (nil or not) or of another kind is not a status, and never panics.
func TestClassifierStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		ok     bool
	}{
		{"value", docker.UnexpectedHTTPStatusError{StatusCode: 502}, 502, true},
		{"pointer, wrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", &inner{StatusCode: 408})), 408, true},
		{"joined, first wins", errors.Join(errors.New("x"), &inner{StatusCode: 404}, &inner{StatusCode: 503}), 404, true},
		{"promoted through a nil pointer", promoted{}, 0, false},
		{"promoted through a pointer", promoted{&inner{StatusCode: 503}}, 0, false},
		{"not an int", notInt{"503"}, 0, false},
		{"nil pointer", (*inner)(nil), 0, false},
		{"nil", nil, 0, false},
		{"text only", errors.New("StatusCode: 503"), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := Status(tc.err)
			if s != tc.status || ok != tc.ok {
				t.Errorf("Status = %d, %v; want %d, %v", s, ok, tc.status, tc.ok)
			}
		})
	}
}

func TestClassifierVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Unknown: "unknown", Temporary: "temporary", Permanent: "permanent"} {
		if v.String() != want {
			t.Errorf("%d: %q, want %q", int(v), v.String(), want)
		}
	}
}
