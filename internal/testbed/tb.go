package testbed

// TB is what the test bed asks of its caller: the methods of testing.TB it uses. *testing.T,
// *testing.B and any testing.TB satisfy it; a program outside `go test` (the bench,
// bench/cmd/tmsync-bench) can bring its own, with Fatalf ending the current step and
// Cleanup functions run when it is done.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
	Logf(format string, args ...any)
	Skip(args ...any)
	Skipf(format string, args ...any)
	TempDir() string
	Setenv(key, value string)
}
