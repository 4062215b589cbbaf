// Package attest fetches the vendor's Grafeas v1beta1 attestation occurrences and verifies
// their OpenPGP signatures, bound to an image's digest and repository (formats.md §3).
//
// It owns:
//   - the HTTP client of the occurrences endpoint ([Client]): bearer token, pagination,
//     retries on 429 and 5xx, distinct errors for a wrong token (401/403) and a wrong
//     address (404);
//   - matching occurrences to images by normalised resource URI ([Index]), never trusting
//     the server's filter;
//   - the verification ([Verifier]): the message must be an attached OpenPGP message signed
//     by a key of the attestor key file (optionally pinned by fingerprint), valid at signing
//     time, and only then is the simple-signing payload parsed, strictly, and its digest
//     and repository compared with the image's;
//   - the offline bundle format ([WriteBundle], [ReadBundle]).
//
// It does not own: reading flags or the token (the CLI does), the policy for images without
// a vendor attestation (the engine branches on [ErrNoAttestation]), copying images, or
// anything of AWS. It imports neither the AWS SDK nor containers/image.
//
// Errors: a checked-and-rejected image gives a [*RejectedError] (errors.Is(err, ErrRejected));
// an image that could not be checked gives an [*UnavailableError]. The token is never put
// into an error, a log record or a String().
package attest
