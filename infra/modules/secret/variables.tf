variable "name" {
  description = "Name of the secret holding the vendor token (tm-sync-token)."
  type        = string
  default     = "tm-sync-token"
}

variable "kms_key_arn" {
  description = "KMS key encrypting the secret."
  type        = string
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can be restored (0 deletes at once)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for the secret."
  type        = map(string)
  default     = {}
}
