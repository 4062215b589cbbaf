# Only the container: the value ({"TM_TOKEN":"..."}) is put by the operator
# (aws secretsmanager put-secret-value), so it never enters the Terraform state.
resource "aws_secretsmanager_secret" "this" {
  name                    = var.name
  description             = "Thought Machine registry token for tmsync, JSON {\"TM_TOKEN\":\"...\"}; value set by the operator, not Terraform"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
  tags                    = var.tags
}
