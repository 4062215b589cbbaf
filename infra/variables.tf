variable "region" {
  description = "AWS region of the pipeline and the ECR repositories (tmsync --trgregion)."
  type        = string
  default     = "eu-central-1"
}

variable "name" {
  description = "Name prefix of the pipeline resources."
  type        = string
  default     = "tm-sync-pipeline"
}

variable "ecr_repository_prefix" {
  description = "tmsync --trgprefix: the pipeline may create and write only repositories under it."
  type        = string
  default     = "/3rdparty/tm/"
}

variable "codecommit_repository_name" {
  description = "CodeCommit repository holding this project and the release files."
  type        = string
  default     = "sync-tm-docker-repo"
}

variable "source_branch" {
  description = "Branch whose pushes run the pipeline."
  type        = string
  default     = "main"
}

variable "token_secret_name" {
  description = "Secrets Manager secret holding {\"TM_TOKEN\":\"...\"} (the buildspecs name it)."
  type        = string
  default     = "tm-sync-token"
}

variable "vpc_cidr" {
  description = "CIDR of the pipeline VPC."
  type        = string
  default     = "10.42.0.0/24"
}

variable "azs" {
  description = "Availability zones (two for the interface endpoints' resilience)."
  type        = list(string)
  default     = ["eu-central-1a", "eu-central-1b"]
}

variable "private_subnet_cidrs" {
  description = "Private subnets of CodeBuild, one per AZ."
  type        = list(string)
  default     = ["10.42.0.0/26", "10.42.0.64/26"]
}

variable "public_subnet_cidrs" {
  description = "Public subnets of the NAT gateway(s), one per AZ."
  type        = list(string)
  default     = ["10.42.0.128/27", "10.42.0.160/27"]
}

variable "single_nat_gateway" {
  description = "One NAT gateway (cheaper) instead of one per AZ."
  type        = bool
  default     = true
}

variable "log_retention_in_days" {
  description = "Retention of the build logs."
  type        = number
  default     = 365
}

variable "kms_key_admin_arns" {
  description = "Principals that administer the KMS keys (besides the account root)."
  type        = list(string)
  default     = []
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the IAM roles, if the landing zone requires one."
  type        = string
  default     = null
}

variable "build_image" {
  description = "CodeBuild image (needs Go >= the go.mod version, make, git, AWS CLI)."
  type        = string
  default     = "aws/codebuild/amazonlinux2-x86_64-standard:5.0"
}

variable "build_compute_type" {
  description = "CodeBuild compute type."
  type        = string
  default     = "BUILD_GENERAL1_MEDIUM"
}

variable "sync_sharded" {
  description = "Run sync as a CodeBuild batch of shards (build/buildspec_build_sharded.yaml) instead of one build."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags on every resource (provider default_tags)."
  type        = map(string)
  default = {
    Project   = "tmsync"
    ManagedBy = "terraform"
  }
}
