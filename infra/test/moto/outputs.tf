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
