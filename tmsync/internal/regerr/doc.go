// Package regerr classifies the errors of registry requests and of the network under
// them by their structure, never by their text: which ones another try may fix, which
// are a certificate that will not verify, which HTTP status a registry answered.
//
// It is the one rule shared by the per-request retry against the vendor
// (tmsync/internal/pull) and the engine's whole-image retry (tmsync.Retryable); each of
// them adds only what it alone knows (pull: its idle cut and its caller's context;
// tmsync: its own sentinels, AWS errors, refused credentials). It knows nothing of AWS,
// attestations or the engine.
package regerr
