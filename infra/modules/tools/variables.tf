variable "bucket_name" {
  description = "Bucket the tools are put in (the artifacts bucket)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the bucket."
  type        = string
}

variable "prefix" {
  description = "Key prefix of the tools in the bucket."
  type        = string
  default     = "tools"
}

variable "tmsync_binary_file" {
  description = "Local path of the tmsync binary to install (make dist: dist/tmsync_linux_amd64 for x86_64 build images, _arm64 for aarch64). Terraform uploads it."
  type        = string
  default     = null
}

variable "tmsync_s3_uri" {
  description = "Instead of tmsync_binary_file: s3://bucket/key of a binary already in S3 (with tmsync_sha256)."
  type        = string
  default     = null
}

variable "tmsync_sha256" {
  description = "sha256 of the binary (its SHA256SUMS line). Required with tmsync_s3_uri; with tmsync_binary_file it is checked against the file."
  type        = string
  default     = null
}

variable "scripts" {
  description = "Stage scripts the buildspecs run, by file name (installed as build/<name>) -> local path."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags for the objects."
  type        = map(string)
  default     = {}
}
