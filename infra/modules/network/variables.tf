variable "name" {
  description = "Name prefix for the network resources."
  type        = string
}

variable "cidr_block" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.42.0.0/24"
}

variable "azs" {
  description = "Availability zones, one private and one public subnet in each."
  type        = list(string)
}

variable "private_subnet_cidrs" {
  description = "CIDRs of the private subnets CodeBuild runs in, one per AZ."
  type        = list(string)
}

variable "public_subnet_cidrs" {
  description = "CIDRs of the public subnets that hold the NAT gateway(s), one per AZ."
  type        = list(string)
}

variable "enable_nat_gateway" {
  description = "Create NAT gateway(s): the way out to the vendor registry (docker.external.thoughtmachine.io)."
  type        = bool
  default     = true
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs (cheaper) instead of one per AZ (survives an AZ outage)."
  type        = bool
  default     = true
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints (short names, e.g. ecr.api): ECR API and registry, the token secret, logs, tmsync's sts and kms (DescribeKey of the ECR key) calls, codebuild (test reports)."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "secretsmanager", "logs", "sts", "kms", "codebuild"]
}

variable "enable_s3_gateway_endpoint" {
  description = "Create the S3 gateway endpoint (ECR layers and the artifacts bucket stay inside AWS)."
  type        = bool
  default     = true
}

variable "flow_log_group_arn" {
  description = "When set, VPC flow logs are sent to this CloudWatch log group."
  type        = string
  default     = null
}

variable "flow_log_role_arn" {
  description = "IAM role VPC flow logs use to write to flow_log_group_arn."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "https_egress_cidrs" {
  description = "Destinations of the CodeBuild security group's HTTPS (443) egress. [\"0.0.0.0/0\"]: anywhere (through the NAT). Anything else restricts it to these CIDRs (the vendor registry's and attestation server's addresses, or the proxy's) plus the VPC (interface endpoints) and the S3 prefix list; [] with a proxy_port: the proxy only."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "proxy_port" {
  description = "Port of the bank's HTTPS proxy, if the builds go through one (another egress rule, to proxy_cidrs)."
  type        = number
  default     = null
}

variable "proxy_cidrs" {
  description = "Addresses of the HTTPS proxy (with proxy_port)."
  type        = list(string)
  default     = []
}
