output "name" {
  description = "Name of the project."
  value       = aws_codebuild_project.this.name
}

output "arn" {
  description = "ARN of the project."
  value       = aws_codebuild_project.this.arn
}

output "report_group_arns" {
  description = "Report group ARNs by short name."
  value       = { for k, v in aws_codebuild_report_group.this : k => v.arn }
}
