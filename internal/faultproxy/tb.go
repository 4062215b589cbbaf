package faultproxy

// TB is what Start asks of its caller: the methods of testing.TB it uses. *testing.T,
// *testing.B, any testing.TB and testbed.TB satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
}
