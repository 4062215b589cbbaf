variable "name" {
  description = "Name of the log group (e.g. /aws/codebuild/tm-sync-pipeline)."
  type        = string
}

variable "retention_in_days" {
  description = "Days the build logs are kept."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key encrypting the log group (its policy must allow CloudWatch Logs)."
  type        = string
}

variable "tags" {
  description = "Tags for the log group."
  type        = map(string)
  default     = {}
}
