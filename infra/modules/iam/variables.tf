variable "name" {
  description = "Name prefix of the roles (e.g. tm-sync-pipeline)."
  type        = string
}

variable "ecr_repository_prefix" {
  description = "tmsync's --trgprefix (e.g. /3rdparty/tm/): the roles may touch only repositories under it."
  type        = string
}

variable "ecr_actions" {
  description = "Override of the ECR actions tmsync calls; null uses the list in ecr_actions.tf (ecrtarget.IAMActions())."
  type        = list(string)
  default     = null
}

variable "ecr_kms_key_arn" {
  description = "KMS key the ECR repositories are encrypted with."
  type        = string
}

variable "s3_kms_key_arn" {
  description = "KMS key of the artifacts bucket."
  type        = string
}

variable "secrets_kms_key_arn" {
  description = "KMS key of the token secret."
  type        = string
}

variable "artifacts_bucket_arn" {
  description = "ARN of the artifacts bucket."
  type        = string
}

variable "token_secret_arn" {
  description = "ARN of the tm-sync-token secret."
  type        = string
}

variable "log_group_arn" {
  description = "ARN of the CodeBuild log group."
  type        = string
}

variable "source_provider" {
  description = "Source of the pipeline: codecommit, s3 or codestar-connections (the pipeline role gets only that one)."
  type        = string
  default     = "codecommit"
  validation {
    condition     = contains(["codecommit", "s3", "codestar-connections"], var.source_provider)
    error_message = "source_provider must be codecommit, s3 or codestar-connections."
  }
}

variable "codecommit_repository_arn" {
  description = "ARN of the CodeCommit repository the pipeline reads (source_provider = codecommit)."
  type        = string
  default     = null
}

variable "source_bucket_arn" {
  description = "ARN of the versioned bucket holding the release zip (source_provider = s3)."
  type        = string
  default     = null
}

variable "codestar_connection_arn" {
  description = "ARN of the CodeStar/CodeConnections connection (source_provider = codestar-connections)."
  type        = string
  default     = null
}

variable "tools_object_arns" {
  description = "S3 object ARNs outside the artifacts bucket the builds read tmsync from (a given tmsync_s3_uri)."
  type        = list(string)
  default     = []
}

variable "sync_project_name" {
  description = "Name of the CodeBuild sync project (for report groups and the pipeline role)."
  type        = string
}

variable "verify_project_name" {
  description = "Name of the CodeBuild verify project."
  type        = string
}

variable "pipeline_name" {
  description = "Name of the CodePipeline (the events role may start only it)."
  type        = string
}

variable "vpc_id" {
  description = "VPC the CodeBuild projects run in; null when they run outside a VPC."
  type        = string
  default     = null
}

variable "private_subnet_ids" {
  description = "Subnets the CodeBuild projects run in (their ENIs are allowed only there)."
  type        = list(string)
  default     = []
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary set on every role, when the bank's landing zone requires one."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the roles."
  type        = map(string)
  default     = {}
}

variable "allow_enable_blob_mounting" {
  description = "Grant the sync role ecr:PutAccountSetting, so that tmsync --enable-blob-mounting can turn ECR's BLOB_MOUNTING account setting on. tmsync only reads the setting otherwise."
  type        = bool
  default     = false
}

variable "signing_enabled" {
  description = "Whether the builds sign (signing_kms_key_arn is set); a plain bool, known at plan time."
  type        = bool
  default     = false
}

variable "signing_kms_key_arn" {
  description = "The bank's KMS signing key (tmsync --sign-kms-key): the sync role may sign with it and read its public key, the verify role may read its public key. null: no evidence signing."
  type        = string
  default     = null
}
