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

variable "codecommit_repository_name" {
  description = "Source repository."
  type        = string
}

variable "codecommit_repository_arn" {
  description = "ARN of the source repository (the push event's resource)."
  type        = string
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
