// Package testbed starts the real processes that tmsync meets in production, for tests:
// the CNCF distribution registry (Debian package docker-registry) and moto_server, the
// AWS API server that serves ECR, Secrets Manager, S3, STS and KMS. Each listens on a free
// 127.0.0.1 port, is waited for until it answers, and is stopped when the test ends.
//
// StartECR pairs the two into one ECR: moto is the control plane and a distribution
// registry, fronted by a proxy of this package, is the data plane. The proxy refuses what
// real ECR refuses (a push to a repository that does not exist, a tag pushed again on an
// IMMUTABLE repository) and records every manifest pushed with PutImage, so that ECR API
// reads (BatchGetImage, DescribeImages) see what the registry holds. It applies ECR's
// cross-repository mount rules (the account setting BLOB_MOUNTING, which the test bed
// answers on ECR.APIURL because moto does not model it; a mount only from a repository
// whose committed manifest references the blob; same encryption), and counts the blob
// bytes uploaded and the mounts asked and done (ECR.Traffic).
//
// StartVendor puts a vendor registry behind internal/faultproxy, which counts the blob
// bytes it serves by repository and digest (the source egress of a sync) and injects
// the faults a registry across the internet shows.
//
// A missing program skips the test with a message that says what to install, unless
// TMSYNC_INTEGRATION=require is set (CI sets it): then it fails the test.
//
// The package owns processes and ports for tests only; it is not part of the tool.
package testbed
