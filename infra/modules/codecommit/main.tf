# The default branch comes with the first push (main); it cannot be set on an empty repository.
resource "aws_codecommit_repository" "this" {
  repository_name = var.name
  description     = var.description
  kms_key_id      = var.kms_key_arn
  tags            = var.tags
}
