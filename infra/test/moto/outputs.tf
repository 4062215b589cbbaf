output "artifacts_bucket" {
  description = "Name of the artifacts bucket."
  value       = module.artifacts.bucket_name
}

output "ecr_repository_url" {
  description = "URL of the sample repository."
  value       = aws_ecr_repository.sample.repository_url
}

output "ecr_actions" {
  description = "ECR actions of the sync role."
  value       = module.iam.ecr_actions
}

output "verify_ecr_actions" {
  description = "ECR actions of the verify role."
  value       = module.iam.verify_ecr_actions
}

output "source_bucket" {
  description = "Name of the s3 source bucket."
  value       = module.source_bucket.bucket_name
}

output "tools_sha256sums" {
  description = "The builds' TOOLS_SHA256SUMS."
  value       = one(module.tools[*].sha256sums)
}

output "tmsync_s3_uri" {
  description = "Where the builds fetch tmsync."
  value       = one(module.tools[*].tmsync_s3_uri)
}

output "source_policy" {
  description = "The pipeline role's policy (its source statements)."
  value       = module.iam.pipeline_policy_json
}
