output "name" {
  description = "Name of the pipeline."
  value       = aws_codepipeline.this.name
}

output "arn" {
  description = "ARN of the pipeline."
  value       = aws_codepipeline.this.arn
}

output "event_rule_arn" {
  description = "ARN of the event rule that starts the pipeline (null with a connection: it starts the pipeline itself)."
  value       = one(aws_cloudwatch_event_rule.push[*].arn)
}
