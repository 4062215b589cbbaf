variable "name" {
  description = "Name of the CodeBuild project."
  type        = string
}

variable "description" {
  description = "Description of the project."
  type        = string
  default     = ""
}

variable "service_role_arn" {
  description = "IAM role the builds run as."
  type        = string
}

variable "buildspec" {
  description = "Buildspec: a path in the source (e.g. build/buildspec_build.yaml) or its YAML text."
  type        = string
}

variable "image" {
  description = "Build image (Amazon Linux standard image; it has Go, make, git and the AWS CLI)."
  type        = string
  default     = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
}

variable "compute_type" {
  description = "CodeBuild compute type."
  type        = string
  default     = "BUILD_GENERAL1_MEDIUM"
}

variable "build_timeout_minutes" {
  description = "Build timeout; a large release over a slow link takes hours."
  type        = number
  default     = 480
}

variable "queued_timeout_minutes" {
  description = "Time a build may wait in the queue."
  type        = number
  default     = 480
}

variable "environment_variables" {
  description = "Plain environment variables of the builds (no secrets: the token comes through the buildspec's secrets-manager section)."
  type        = map(string)
  default     = {}
}

variable "encryption_key_arn" {
  description = "KMS key for the build output artifacts (the artifacts bucket's key)."
  type        = string
}

variable "log_group_name" {
  description = "CloudWatch log group of the builds."
  type        = string
}

variable "vpc_id" {
  description = "VPC the builds run in; null runs them outside a VPC."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Private subnets of the builds (with a NAT route for the vendor registry)."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the builds."
  type        = list(string)
  default     = []
}

variable "report_groups" {
  description = "Short names of the report groups the buildspec's reports section uses; each becomes <name>-<short>."
  type        = list(string)
  default     = []
}

variable "reports_bucket_name" {
  description = "Bucket the report groups export raw reports to; null: no export."
  type        = string
  default     = null
}

variable "batch_enabled" {
  description = "Allow batch builds (the sharded buildspec's build-matrix / build-list)."
  type        = bool
  default     = false
}

variable "batch_max_builds" {
  description = "Most builds a batch may run (shards + fan-in)."
  type        = number
  default     = 20
}

variable "batch_timeout_minutes" {
  description = "Timeout of a whole batch."
  type        = number
  default     = 480
}

variable "tags" {
  description = "Tags for the project and report groups."
  type        = map(string)
  default     = {}
}

variable "cache_bucket_name" {
  description = "Bucket of the CodeBuild S3 cache (the buildspec's cache paths: Go modules and build cache, when building from source); null: no cache."
  type        = string
  default     = null
}
