package pull

// RetryableForTest is retryable, for the agreement tests in package pull_test (which
// import package tmsync, which imports this package).
var RetryableForTest = retryable
