// Package evidence puts the chain of custody next to each image in the destination
// registry (ECR), in formats admission controllers already read, and checks it (issue 19).
//
// It owns, for one image (a manifest or an index, by digest) in one repository:
//
//   - the vendor-attestation artifact: an OCI 1.1 artifact manifest (artifactType
//     [AttestationArtifactType], empty config, one layer of [OccurrenceMediaType] holding
//     the Grafeas occurrence exactly as the vendor's server sent it, signed payload and
//     signature included) whose subject is the image, annotated with the vendor key
//     fingerprint, the occurrence name, the vendor repository, the verification time and
//     the tmsync version ([AnnotationFingerprint] and the others);
//   - the bank's signature, in cosign's format and place: a simple-signing payload
//     (sigstore's payload package) naming the image digest and its destination repository,
//     signed with SHA-256 by an AWS KMS key ([KMSSigner]: kms:Sign, the private key never
//     leaves KMS), stored as a layer of the "sha256-<hex>.sig" manifest with the base64
//     signature in the "dev.cosignproject.cosign/signature" annotation. `cosign verify
//     --key pub.pem` (or --key awskms:///alias/...) and Kyverno's verifyImages read it there
//     by default; the tests run the real cosign;
//   - the fallback where the referrers API is missing (CNCF distribution 2.8, Debian's
//     docker-registry) or ECR refuses an index subject with 405 (aws/containers-roadmap
//     #2783): the OCI 1.1 referrers tag "sha256-<hex>", an image index listing the
//     artifacts; the record says which scheme was used ([Scheme]);
//   - idempotence ([Client.Ensure]): read first, keep what is valid, add what is missing or
//     invalid, never delete. A re-run over complete evidence pushes nothing;
//   - verification ([Client.Verify]): the bank signature under the bank's public key,
//     bound to the digest and the destination repository; the occurrence in the artifact
//     under the vendor key (attest.Verifier), bound to the digest; per-image [Record]s,
//     JSON-tagged for the report, and an [*EvidenceError] naming each image that fails;
//   - copying the vendor's own referrers (signatures, SBOMs) to the destination, byte for
//     byte so digests are preserved ([Client.CopyReferrers]).
//
// It does not own: reading flags, choosing the KMS key or creating it (Terraform), the
// vendor verification itself (attest), copying images (tmsync), ECR repositories
// (ecrtarget). It imports attest and go-containerregistry, sigstore's signature and
// payload packages, and the KMS client of the AWS SDK; not containers/image and not cosign
// (whose module would bring Rekor, Fulcio and TUF clients; the formats it writes come from
// go-containerregistry and sigstore, and the real cosign verifies them in the tests).
//
// # Immutable repositories
//
// Both fallbacks are tags, and cosign's .sig tag is rewritten each time a signature is
// added (cosign appends a layer to the same manifest). On an ECR repository with
// IMMUTABLE tags, a tag that exists cannot be rewritten, even with the same content. So
// Ensure reads first and writes a tag only when its evidence is missing or invalid: the
// first signature and the first referrers index are created normally; a re-run finds them
// valid and writes nothing. Only when an existing .sig (or referrers tag) lacks valid bank
// evidence — signed by another key, or another tool's referrer listed first — does the
// write have to replace the tag; ECR refuses it, and the record says [StatusBlocked]
// ([ErrTagImmutable]); nothing is deleted. The remedy is ECR's IMMUTABLE_WITH_EXCLUSION
// mutability with an exclusion filter "sha256-*", which keeps release tags immutable and
// lets the evidence tags grow. With the referrers API (ECR on image manifests) no tag is
// written for the attestation at all.
//
// Lifecycle policies: ECR expires referrers together with their subject, but the fallback
// tags are ordinary tagged images: a rule on tagged images whose prefix matches "sha256-"
// (or "countMoreThan" over all tags) can expire the evidence before the image. Exclude the
// "sha256-" prefix from such rules, or expire by the release's tag prefixes only.
//
// # Manifest pushes and ECR's PutImage quota
//
// [Record.ManifestPushes] counts the manifest PUTs of a call (every one is a PutImage,
// refused ones included). Evidence costs per image, first run:
//
//	attestation, referrers API              1
//	attestation, referrers tag (or 405)     2 (artifact + tag index)
//	bank signature (.sig)                   1
//
// so 2 per image on ECR for image manifests (the target), 3 where the tag scheme
// is needed (an index subject refused with 405, a registry without the API). A re-run with
// valid evidence pushes 0 and reads about five manifests or blobs per image
// (BatchGetImage 2,000/s, GetDownloadUrlForLayer 3,000/s).
//
// ECR allows 10 PutImage per second per account and region, shared by manifests, indexes
// and signatures. A 200-image release of single-platform images spends 200 PutImage on the
// images and 400 on the evidence: 600 calls, at least 60 s at the quota; with two-platform
// indexes, 600 + 400 (+200 if every index subject falls back to the tag scheme) = 1,000 to
// 1,200 calls, 100 to 120 s. Pace them with one shared limiter ([WithPushLimiter]) rather
// than let ECR throttle; layer uploads, not PutImage, usually dominate a first sync.
package evidence
