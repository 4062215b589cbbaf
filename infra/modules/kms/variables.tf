variable "alias" {
  description = "Alias of the key, without the alias/ prefix (e.g. tm-sync-ecr)."
  type        = string
}

variable "description" {
  description = "Description of the key."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled deletion (7-30 days)."
  type        = number
  default     = 30
}

variable "rotation_period_in_days" {
  description = "Automatic rotation period (90-2560 days); null leaves the AWS default (365)."
  type        = number
  default     = 365
  nullable    = true
}

variable "key_admin_arns" {
  description = "IAM principals that administer the key (no data use). Empty: the account root (IAM policies decide)."
  type        = list(string)
  default     = []
}

variable "allow_cloudwatch_logs" {
  description = "Let CloudWatch Logs of this region use the key for log groups of this account."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the key."
  type        = map(string)
  default     = {}
}

variable "key_usage" {
  description = "ENCRYPT_DECRYPT (default) or SIGN_VERIFY (the bank's signing key)."
  type        = string
  default     = "ENCRYPT_DECRYPT"
}

variable "key_spec" {
  description = "SYMMETRIC_DEFAULT (default), or an asymmetric spec such as ECC_NIST_P256 for SIGN_VERIFY."
  type        = string
  default     = "SYMMETRIC_DEFAULT"
}
