package main

import (
	"context"
	"testing"
)

// TestQuickstart runs the README's demo, so that `make demo` keeps working.
func TestQuickstart(t *testing.T) {
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
