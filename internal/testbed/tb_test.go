package testbed

import (
	"testing"

	"github.com/tmsync/tmsync/internal/faultproxy"
)

// Every testing.TB is a TB, and a TB is what faultproxy.Start takes.
var (
	_ TB            = (*testing.T)(nil)
	_ TB            = (*testing.B)(nil)
	_ TB            = testing.TB(nil)
	_ faultproxy.TB = TB(nil)
)
