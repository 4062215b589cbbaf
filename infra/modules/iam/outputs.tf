output "codebuild_sync_role_arn" {
  description = "Role of the sync CodeBuild project."
  value       = aws_iam_role.codebuild["sync"].arn
}

output "codebuild_verify_role_arn" {
  description = "Role of the verify CodeBuild project."
  value       = aws_iam_role.codebuild["verify"].arn
}

output "pipeline_role_arn" {
  description = "Role of the CodePipeline."
  value       = aws_iam_role.pipeline.arn
}

output "events_role_arn" {
  description = "Role EventBridge uses to start the pipeline."
  value       = aws_iam_role.events.arn
}

output "ecr_actions" {
  description = "ECR actions granted to the sync role (ecrtarget.IAMActions())."
  value       = local.ecr_actions
}

output "verify_ecr_actions" {
  description = "ECR actions granted to the verify role (the read-only part)."
  value       = concat(local.ecr_account_actions, local.read_only_ecr_actions)
}

output "ecr_repository_arns" {
  description = "Repository ARN patterns the roles may touch."
  value       = local.ecr_repository_arns
}

output "pipeline_policy_json" {
  description = "The pipeline role's policy document (what its source stage may read)."
  value       = data.aws_iam_policy_document.pipeline.json
}
