variable "name" {
  description = "Name of the pipeline."
  type        = string
}

variable "role_arn" {
  description = "IAM role of the pipeline."
  type        = string
}

variable "artifacts_bucket_name" {
  description = "Bucket of the pipeline artifacts."
  type        = string
}

variable "artifacts_kms_key_arn" {
  description = "KMS key of the pipeline artifacts."
  type        = string
}

variable "source_provider" {
  description = "codecommit, s3 (a release zip in a versioned bucket) or codestar-connections (GitHub, GitLab, Bitbucket)."
  type        = string
  default     = "codecommit"
  validation {
    condition     = contains(["codecommit", "s3", "codestar-connections"], var.source_provider)
    error_message = "source_provider must be codecommit, s3 or codestar-connections."
  }
}

variable "codecommit_repository_name" {
  description = "Source repository (codecommit)."
  type        = string
  default     = null
}

variable "codecommit_repository_arn" {
  description = "ARN of the source repository, the push event's resource (codecommit)."
  type        = string
  default     = null
}

variable "source_bucket_name" {
  description = "Versioned bucket of the release zip (s3)."
  type        = string
  default     = null
}

variable "source_object_key" {
  description = "Key of the release zip in source_bucket_name (s3)."
  type        = string
  default     = "release.zip"
}

variable "codestar_connection_arn" {
  description = "Connection to GitHub, GitLab or Bitbucket (codestar-connections)."
  type        = string
  default     = null
}

variable "codestar_repository_id" {
  description = "owner/repository at the connection's provider (codestar-connections)."
  type        = string
  default     = null
}

variable "branch" {
  description = "Branch whose pushes run the pipeline."
  type        = string
  default     = "main"
}

variable "sync_project_name" {
  description = "CodeBuild project of the sync stage."
  type        = string
}

variable "sync_batch" {
  description = "Run the sync project as a batch build (the sharded buildspec)."
  type        = bool
  default     = false
}

variable "verify_project_name" {
  description = "CodeBuild project of the verify stage."
  type        = string
}

variable "events_role_arn" {
  description = "Role EventBridge uses to start the pipeline on a push."
  type        = string
}

variable "tags" {
  description = "Tags for the pipeline and the event rule."
  type        = map(string)
  default     = {}
}
