// Package ecrtarget owns the target side of a sync in Amazon ECR: the name of a
// repository under the prefix, its creation with the bank's settings (KMS encryption, scan
// on push, tag immutability, resource tags, repository and lifecycle policies), the
// reconciliation of a repository that already exists (and the report of what cannot be
// reconciled, such as its encryption key), a plan mode that makes no change, the tags
// already present in a repository, registry credentials from GetAuthorizationToken, and
// scan findings after a push.
//
// It calls the ECR control-plane API only, through the narrow [API] interface, and lists
// every call it makes in [IAMActions], so the pipeline's role can be given exactly that.
// Clients made with [NewClient] retry ThrottlingException and HTTP 429 with backoff through
// the SDK's standard retryer, unless the caller's aws.Config brings a retryer of its own,
// which is kept; [Provisioner] spaces its mutating calls on top of that.
//
// It does not own, and does not import: copying images or pushing manifests (the engine
// does that with containers/image, using [Provisioner.Credentials]), attestations, release
// folders, or reports. It never deletes a repository, an image, or a policy, and never
// recreates a repository whose settings differ: it reports them as [Drift].
package ecrtarget
