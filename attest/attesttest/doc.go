// Package attesttest provides test doubles for package attest: a [Signer] that makes
// vendor-style signed attestation occurrences with a fresh OpenPGP key, and a [Server] that
// serves them as a Grafeas v1beta1 occurrences endpoint on 127.0.0.1.
//
// Constructors need no *testing.T, so demo programs and benchmarks can use them too. The
// keys are throwaway; nothing here is fit for production signing.
package attesttest
