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
  description = "codecommit source: clone URL of the repository (push to the branch to run the pipeline)."
  value       = one(module.codecommit[*].clone_url_http)
}

output "source_bucket" {
  description = "s3 source: bucket to upload the release zip to (as source_object_key)."
  value       = one(module.source_bucket[*].bucket_name)
}

output "source_upload_uri" {
  description = "s3 source: where the release zip goes (aws s3 cp release.zip <this>)."
  value       = var.source_provider == "s3" ? "s3://${module.source_bucket[0].bucket_name}/${var.source_object_key}" : null
}

output "codestar_connection_arn" {
  description = "codestar-connections source: the connection (complete it in the console if Terraform made it)."
  value       = local.codestar_connection_arn
}

output "tmsync_s3_uri" {
  description = "artifact install: the binary every build fetches."
  value       = one(module.tools[*].tmsync_s3_uri)
}

output "tmsync_sha256" {
  description = "artifact install: the sha256 the builds accept."
  value       = one(module.tools[*].tmsync_sha256)
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

output "signing_key_arn" {
  description = "The bank's evidence signing key (tmsync --sign-kms-key), or null. Export its public key for cosign and Kyverno: aws kms get-public-key (docs/evidence.md)."
  value       = local.signing_key_arn
}
