variable "name" {
  description = "Name of the CodeCommit repository holding the build files and the vendor release files."
  type        = string
}

variable "description" {
  description = "Description of the repository."
  type        = string
  default     = "tmsync: buildspecs and Thought Machine release files; a push to main runs the sync pipeline"
}

variable "kms_key_arn" {
  description = "KMS key encrypting the repository; null uses the AWS managed key."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the repository."
  type        = map(string)
  default     = {}
}
