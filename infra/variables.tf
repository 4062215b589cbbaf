variable "region" {
  description = "AWS region of the pipeline and the ECR repositories (tmsync --trgregion)."
  type        = string
  default     = "eu-central-1"
}

variable "name" {
  description = "Name prefix of the pipeline resources."
  type        = string
  default     = "tm-sync-pipeline"
}

variable "ecr_repository_prefix" {
  description = "tmsync --trgprefix: the pipeline may create and write only repositories under it."
  type        = string
  default     = "/3rdparty/tm/"
}

variable "source_provider" {
  description = "Where releases come from: s3 (a release zip uploaded to a versioned bucket; works in any account), codecommit (closed to accounts new since July 2024), or codestar-connections (GitHub, GitLab, Bitbucket)."
  type        = string
  default     = "s3"
  validation {
    condition     = contains(["s3", "codecommit", "codestar-connections"], var.source_provider)
    error_message = "source_provider must be s3, codecommit or codestar-connections."
  }
}

variable "source_object_key" {
  description = "s3 source: key of the release zip in the source bucket (each upload is a new version and starts the pipeline)."
  type        = string
  default     = "release.zip"
}

variable "codestar_connection_arn" {
  description = "codestar-connections source: an existing connection's ARN; null creates one (PENDING until completed in the console)."
  type        = string
  default     = null
}

variable "codestar_provider_type" {
  description = "codestar-connections source, when Terraform creates the connection: GitHub, GitLab or Bitbucket."
  type        = string
  default     = "GitHub"
  validation {
    condition     = contains(["GitHub", "GitLab", "Bitbucket"], var.codestar_provider_type)
    error_message = "codestar_provider_type must be GitHub, GitLab or Bitbucket."
  }
}

variable "codestar_repository_id" {
  description = "codestar-connections source: owner/repository holding the release files."
  type        = string
  default     = null
}

variable "src_attestor_fingerprints" {
  description = "Fingerprints of the vendor attestor's OpenPGP key(s), got from Thought Machine out of band (not from the release upload): the builds accept only attestations signed by these keys (tmsync --src-attestor-fingerprint, through TMSYNC_SRC_ATTESTOR_FINGERPRINT). 40 hex digits each (64 for a v6 key); white space, case and a 0x or openpgp4fpr: prefix do not matter. Two during a vendor key rotation. Required: without it, whoever uploads a release would choose the key its attestations are checked with."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.src_attestor_fingerprints) > 0
    error_message = "src_attestor_fingerprints must name at least one fingerprint: the vendor attestor key's, from Thought Machine (docs/operations.md, \"The vendor attestor key\")."
  }
  # What tmsync's --src-attestor-fingerprint takes (attest.CheckFingerprint), no more, no
  # less: white space of any kind (Go's unicode.IsSpace: \t\n\v\f\r, U+0085 and the Z
  # categories) and case ignored, then one "openpgp4fpr:" and one "0x" prefix dropped, and
  # 40 or 64 hex digits left. main.tf passes the same normal form to the builds.
  # TestFingerprintSpellings holds the two to one table of spellings.
  validation {
    condition     = alltrue([for f in var.src_attestor_fingerprints : can(regex("^([0-9A-F]{40}|[0-9A-F]{64})$", trimprefix(trimprefix(upper(replace(f, "/[\\t\\n\\v\\f\\r\\x{85}\\pZ]/", "")), "OPENPGP4FPR:"), "0X")))])
    error_message = "src_attestor_fingerprints: each must be a key fingerprint of 40 hex digits (64 for a v6 key), as gpg --show-keys --with-fingerprint prints it (white space and case do not matter; a 0x or openpgp4fpr: prefix may be given); not a 16-digit key id, not the key itself."
  }
}

variable "tmsync_install" {
  description = "artifact: every build fetches the tmsync binary from S3 and checks its sha256 (no Go, no module download). source: every build runs make build (Go in the build image, modules through source_build_env's GOPROXY, an S3 cache)."
  type        = string
  default     = "artifact"
  validation {
    condition     = contains(["artifact", "source"], var.tmsync_install)
    error_message = "tmsync_install must be artifact or source."
  }
}

variable "tmsync_binary_file" {
  description = "artifact: local path of the binary from make dist (dist/tmsync_linux_amd64 for the x86_64 build image); Terraform uploads it to the artifacts bucket."
  type        = string
  default     = null
}

variable "tmsync_s3_uri" {
  description = "artifact, instead of tmsync_binary_file: s3://bucket/key of the binary already in S3 (same region, so the S3 gateway endpoint serves it). Needs tmsync_sha256."
  type        = string
  default     = null
}

variable "tmsync_sha256" {
  description = "artifact: the binary's line of SHA256SUMS. Required with tmsync_s3_uri; with tmsync_binary_file the file must match it."
  type        = string
  default     = null
}

variable "source_build_env" {
  description = "source: environment of make build (GOFLAGS is always -mod=readonly -buildvcs=false). Point GOPROXY at the bank's module mirror; GOTOOLCHAIN=auto fetches the go.mod toolchain through it."
  type        = map(string)
  default = {
    GOPROXY     = "https://proxy.golang.org"
    GOSUMDB     = "sum.golang.org"
    GOTOOLCHAIN = "auto"
  }
}

variable "nat_gateway" {
  description = "NAT gateway(s) for the builds' way out to the vendor; false when they go through https_proxy instead."
  type        = bool
  default     = true
}

variable "https_egress_cidrs" {
  description = "Destinations of the builds' HTTPS egress: [\"0.0.0.0/0\"] (default) or the vendor registry's and attestation server's CIDRs (the VPC endpoints and S3 stay allowed); [] with https_proxy: the proxy only. infra/README.md lists the hosts."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "https_proxy" {
  description = "The bank's HTTPS proxy for the vendor registry and attestation server, http://host:port (builds get HTTPS_PROXY, with AWS APIs excluded); null: none."
  type        = string
  default     = null
  validation {
    condition     = var.https_proxy == null || can(regex("^https?://[^/]+:[0-9]+/?$", coalesce(var.https_proxy, "-")))
    error_message = "https_proxy must be http://host:port."
  }
}

variable "https_proxy_cidrs" {
  description = "Addresses of https_proxy (the security group lets the builds reach its port there)."
  type        = list(string)
  default     = []
}

variable "codecommit_repository_name" {
  description = "codecommit source: repository holding the release files."
  type        = string
  default     = "sync-tm-docker-repo"
}

variable "source_branch" {
  description = "Branch whose pushes run the pipeline."
  type        = string
  default     = "main"
}

variable "token_secret_name" {
  description = "Secrets Manager secret holding {\"TM_TOKEN\":\"...\"} (the buildspecs name it)."
  type        = string
  default     = "tm-sync-token"
}

variable "vpc_cidr" {
  description = "CIDR of the pipeline VPC."
  type        = string
  default     = "10.42.0.0/24"
}

variable "azs" {
  description = "Availability zones (two for the interface endpoints' resilience)."
  type        = list(string)
  default     = ["eu-central-1a", "eu-central-1b"]
}

variable "private_subnet_cidrs" {
  description = "Private subnets of CodeBuild, one per AZ."
  type        = list(string)
  default     = ["10.42.0.0/26", "10.42.0.64/26"]
}

variable "public_subnet_cidrs" {
  description = "Public subnets of the NAT gateway(s), one per AZ."
  type        = list(string)
  default     = ["10.42.0.128/27", "10.42.0.160/27"]
}

variable "single_nat_gateway" {
  description = "One NAT gateway (cheaper) instead of one per AZ."
  type        = bool
  default     = true
}

variable "log_retention_in_days" {
  description = "Retention of the build logs."
  type        = number
  default     = 365
}

variable "kms_key_admin_arns" {
  description = "Principals that administer the KMS keys (besides the account root)."
  type        = list(string)
  default     = []
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the IAM roles, if the landing zone requires one."
  type        = string
  default     = null
}

variable "build_image" {
  description = "CodeBuild image: bash, sha256sum and the AWS CLI (artifact install); plus Go, make, git to build from source. Its architecture must match the binary (x86_64: tmsync_linux_amd64)."
  type        = string
  default     = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
}

variable "build_compute_type" {
  description = "CodeBuild compute type."
  type        = string
  default     = "BUILD_GENERAL1_MEDIUM"
}

variable "sync_sharded" {
  description = "Run sync as a CodeBuild batch of shards (build/buildspec_build_sharded.yaml) instead of one build."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags on every resource (provider default_tags)."
  type        = map(string)
  default = {
    Project   = "tmsync"
    ManagedBy = "terraform"
  }
}

variable "create_signing_key" {
  description = "Create the bank's evidence signing key (KMS asymmetric ECC_NIST_P256, SIGN_VERIFY): tmsync signs every image it puts in ECR with it (--sign-kms-key, cosign format). See docs/evidence.md."
  type        = bool
  default     = false
}

variable "signing_kms_key_arn" {
  description = "An existing signing key instead (key ARN or alias ARN; ECC_NIST_P256 or RSA, SIGN_VERIFY). null with create_signing_key = false: no signing."
  type        = string
  default     = null

  validation {
    condition     = var.signing_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/.+$", var.signing_kms_key_arn))
    error_message = "signing_kms_key_arn must be a KMS key ARN or alias ARN (arn:aws:kms:REGION:ACCOUNT:key/... or .../alias/...)."
  }
}

variable "allow_enable_blob_mounting" {
  description = "Let the sync builds turn ECR's BLOB_MOUNTING account setting on: the sync role gets ecr:PutAccountSetting and the sync project TMSYNC_ENABLE_BLOB_MOUNTING=true (tmsync --enable-blob-mounting). An account-wide setting; false (default): tmsync only reads it and reports what mounting would save."
  type        = bool
  default     = false
}
