resource "aws_codebuild_project" "this" {
  name               = var.name
  description        = var.description
  service_role       = var.service_role_arn
  build_timeout      = var.build_timeout_minutes
  queued_timeout     = var.queued_timeout_minutes
  encryption_key     = var.encryption_key_arn
  project_visibility = "PRIVATE"
  tags               = var.tags

  source {
    type      = "CODEPIPELINE"
    buildspec = var.buildspec
  }

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    type                        = "LINUX_CONTAINER"
    compute_type                = var.compute_type
    image                       = var.image
    image_pull_credentials_type = "CODEBUILD"
    privileged_mode             = false

    dynamic "environment_variable" {
      for_each = var.environment_variables
      content {
        name  = environment_variable.key
        value = environment_variable.value
        type  = "PLAINTEXT"
      }
    }
  }

  # Only the build-from-source path has something to cache (Go modules and build cache);
  # an installed binary needs none.
  dynamic "cache" {
    for_each = var.cache_bucket_name == null ? [] : [1]
    content {
      type     = "S3"
      location = "${var.cache_bucket_name}/codebuild-cache/${var.name}"
    }
  }

  logs_config {
    cloudwatch_logs {
      status      = "ENABLED"
      group_name  = var.log_group_name
      stream_name = var.name
    }
    s3_logs {
      status = "DISABLED"
    }
  }

  dynamic "vpc_config" {
    for_each = var.vpc_id == null ? [] : [1]
    content {
      vpc_id             = var.vpc_id
      subnets            = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  dynamic "build_batch_config" {
    for_each = var.batch_enabled ? [1] : []
    content {
      service_role      = var.service_role_arn
      timeout_in_mins   = var.batch_timeout_minutes
      combine_artifacts = false
      restrictions {
        maximum_builds_allowed = var.batch_max_builds
        compute_types_allowed  = [var.compute_type]
      }
    }
  }
}

resource "aws_codebuild_report_group" "this" {
  for_each       = toset(var.report_groups)
  name           = "${var.name}-${each.key}"
  type           = "TEST"
  delete_reports = true
  tags           = var.tags

  export_config {
    type = var.reports_bucket_name == null ? "NO_EXPORT" : "S3"

    dynamic "s3_destination" {
      for_each = var.reports_bucket_name == null ? [] : [1]
      content {
        bucket              = var.reports_bucket_name
        path                = "reports/${var.name}"
        packaging           = "NONE"
        encryption_key      = var.encryption_key_arn
        encryption_disabled = false
      }
    }
  }
}
