// Package regauth is the registry side of the distribution auth handshake that tmsync's
// own small HTTP clients share (the tag lookup of package tmsync and the preflight of
// cmd/tmsync): reading a WWW-Authenticate challenge, choosing the scheme, building the
// token service's URL from the realm, and asking it for a token with bounded reads.
//
// It does not ping registries, keep tokens or retry: its callers do, each with its own
// policy. containers/image has its own copy of this handshake for the copies themselves;
// Pick follows its choice of scheme so that a check here meets what a copy will meet.
//
// Nothing here puts a password or a token in an error.
package regauth
