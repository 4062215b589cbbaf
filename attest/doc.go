// Package attest fetches the vendor's Grafeas v1beta1 attestation occurrences and verifies
// their OpenPGP signatures, bound to an image's digest and repository (formats.md §3).
//
// It owns:
//   - the HTTP client of the occurrences endpoint ([Client]): bearer token, pagination,
//     retries on 429 and 5xx, distinct errors for a wrong token (401/403) and a wrong
//     address (404); every listing bounded ([ListLimits]: occurrences, bytes, bytes per
//     page, pages, time; beyond them [ErrListingLimit]) and decoded as a stream, and
//     [Client.ListFor] keeps only the occurrences of the images asked for; a redirect from
//     https to http is never followed ([ErrInsecureRedirect]);
//   - matching occurrences to images by normalised resource URI ([Index]), never trusting
//     the server's filter;
//   - the verification ([Verifier]): the message must be an attached OpenPGP message signed
//     by a key of the attestor key file (optionally pinned by fingerprint), valid at signing
//     time, and only then is the simple-signing payload parsed, strictly, and its digest
//     and repository compared with the image's; only SHA-2 and SHA-3 message signatures
//     count ([ErrWeakHash]; the policy, including self-signatures, is in hash.go); a key
//     that has expired since a signature dated inside its validity is reported
//     ([Verification.KeyExpired]) or, with [WithStrictKeyExpiry], refused;
//   - the offline bundle format ([WriteBundle], [ReadBundle]).
//
// It does not own: reading flags or the token (the CLI does), the policy for images without
// a vendor attestation (the engine branches on [ErrNoAttestation]), copying images, or
// anything of AWS. It imports neither the AWS SDK nor containers/image.
//
// Errors: a checked-and-rejected image gives a [*RejectedError] (errors.Is(err, ErrRejected));
// an image that could not be checked gives an [*UnavailableError]. The token is never put
// into an error, a log record or a String(): an error body that echoes it is redacted raw,
// URL-escaped and base64-encoded ([Redact]). Remote text (occurrence names, error bodies,
// status lines) has its control characters escaped ([Sanitize]) in every error and
// Reason this package builds, so it cannot forge log lines or repaint a terminal.
package attest
