output "artifacts_bucket" {
  description = "Artifacts bucket: sync-error.log and sync-report.json of every run (versioned)."
  value       = module.artifacts.bucket_name
}

output "token_secret_name" {
  description = "Secret the operator puts {\"TM_TOKEN\":\"...\"} into."
  value       = module.secret.name
}

output "token_secret_arn" {
  description = "ARN of the token secret."
  value       = module.secret.arn
}

output "codecommit_clone_url_http" {
  description = "Clone URL of the CodeCommit repository (push to main to run the pipeline)."
  value       = module.codecommit.clone_url_http
}

output "pipeline_name" {
  description = "Name of the CodePipeline."
  value       = module.pipeline.name
}

output "codebuild_projects" {
  description = "CodeBuild projects of the sync and verify stages."
  value       = { sync = module.codebuild_sync.name, verify = module.codebuild_verify.name }
}

output "log_group_name" {
  description = "CloudWatch log group of the builds."
  value       = module.logs.name
}

output "kms_key_arns" {
  description = "KMS key ARNs by use (ecr, s3, secrets, logs)."
  value       = { for k, m in module.kms : k => m.key_arn }
}

output "ecr_kms_key_arn" {
  description = "Key the ECR repositories are created with (the builds get it as ECR_KMS_ARN)."
  value       = module.kms["ecr"].key_arn
}

output "nat_public_ips" {
  description = "Addresses the vendor registry sees (for its allow-list, if any)."
  value       = module.network.nat_public_ips
}

output "ecr_actions" {
  description = "ECR actions granted to the sync role."
  value       = module.iam.ecr_actions
}
