variable "bucket_name" {
  description = "Name of the artifacts bucket (tm-artifacts-<account>-sync-pipeline-s3)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the objects."
  type        = string
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which old versions (e.g. earlier sync-error.log) are deleted; 0 keeps them."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a non-empty bucket."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}
}

variable "eventbridge_notifications" {
  description = "Send the bucket's object events to EventBridge (the S3 source bucket: an upload starts the pipeline)."
  type        = bool
  default     = false
}
