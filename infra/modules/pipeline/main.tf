locals {
  # The execution ID names this run's files in the artifacts bucket (runs/<id>/), shared by
  # the sync shards, the fan-in and verify.
  run_env = jsonencode([{
    name  = "PIPELINE_EXECUTION_ID"
    value = "#{codepipeline.PipelineExecutionId}"
    type  = "PLAINTEXT"
  }])
}

resource "aws_codepipeline" "this" {
  name          = var.name
  role_arn      = var.role_arn
  pipeline_type = "V2"
  tags          = var.tags

  artifact_store {
    type     = "S3"
    location = var.artifacts_bucket_name
    encryption_key {
      id   = var.artifacts_kms_key_arn
      type = "KMS"
    }
  }

  # One source action, of the chosen provider; each outputs the artifact "source".
  stage {
    name = "Source"

    dynamic "action" {
      for_each = var.source_provider == "codecommit" ? [1] : []
      content {
        name             = "CodeCommit"
        category         = "Source"
        owner            = "AWS"
        provider         = "CodeCommit"
        version          = "1"
        output_artifacts = ["source"]
        configuration = {
          RepositoryName       = var.codecommit_repository_name
          BranchName           = var.branch
          PollForSourceChanges = "false" # the EventBridge rule below starts the pipeline
          OutputArtifactFormat = "CODE_ZIP"
        }
      }
    }

    dynamic "action" {
      for_each = var.source_provider == "s3" ? [1] : []
      content {
        name             = "S3"
        category         = "Source"
        owner            = "AWS"
        provider         = "S3"
        version          = "1"
        output_artifacts = ["source"]
        configuration = {
          S3Bucket             = var.source_bucket_name
          S3ObjectKey          = var.source_object_key
          PollForSourceChanges = "false" # the EventBridge rule below starts the pipeline
        }
      }
    }

    dynamic "action" {
      for_each = var.source_provider == "codestar-connections" ? [1] : []
      content {
        name             = "Repository"
        category         = "Source"
        owner            = "AWS"
        provider         = "CodeStarSourceConnection"
        version          = "1"
        output_artifacts = ["source"]
        configuration = {
          ConnectionArn        = var.codestar_connection_arn
          FullRepositoryId     = var.codestar_repository_id
          BranchName           = var.branch
          DetectChanges        = "true" # the connection's webhook starts the pipeline
          OutputArtifactFormat = "CODE_ZIP"
        }
      }
    }
  }

  stage {
    name = "Sync"
    action {
      name             = "Sync"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = ["source"]
      output_artifacts = ["sync"]
      configuration = merge(
        {
          ProjectName          = var.sync_project_name
          EnvironmentVariables = local.run_env
        },
        var.sync_batch ? { BatchEnabled = "true", CombineArtifacts = "true" } : {},
      )
    }
  }

  # Verify gets the source (the release) and the sync output (sync-error.log) and fails
  # the pipeline when the log is not empty or tmsync verify finds a missing image.
  stage {
    name = "Verify"
    action {
      name            = "Verify"
      category        = "Build"
      owner           = "AWS"
      provider        = "CodeBuild"
      version         = "1"
      input_artifacts = ["source", "sync"]
      configuration = {
        ProjectName          = var.verify_project_name
        PrimarySource        = "source"
        EnvironmentVariables = local.run_env
      }
    }
  }
}

locals {
  # CodeCommit: a push to the branch; S3: a new version of the release zip (the bucket sends
  # its events to EventBridge). A connection starts the pipeline itself.
  event_patterns = {
    codecommit = {
      source        = ["aws.codecommit"]
      "detail-type" = ["CodeCommit Repository State Change"]
      resources     = [var.codecommit_repository_arn]
      detail = {
        event         = ["referenceCreated", "referenceUpdated"]
        referenceType = ["branch"]
        referenceName = [var.branch]
      }
    }
    s3 = {
      source        = ["aws.s3"]
      "detail-type" = ["Object Created"]
      detail = {
        bucket = { name = [var.source_bucket_name] }
        object = { key = [var.source_object_key] }
      }
    }
  }
  event_description = {
    codecommit = "a push to ${var.branch} of ${coalesce(var.codecommit_repository_name, "-")}"
    s3         = "an upload of s3://${coalesce(var.source_bucket_name, "-")}/${var.source_object_key}"
  }
}

resource "aws_cloudwatch_event_rule" "push" {
  count         = var.source_provider == "codestar-connections" ? 0 : 1
  name          = "${var.name}-on-push"
  description   = "Start ${var.name} on ${local.event_description[var.source_provider]}"
  tags          = var.tags
  event_pattern = jsonencode(local.event_patterns[var.source_provider])
}

resource "aws_cloudwatch_event_target" "pipeline" {
  count    = length(aws_cloudwatch_event_rule.push)
  rule     = aws_cloudwatch_event_rule.push[0].name
  arn      = aws_codepipeline.this.arn
  role_arn = var.events_role_arn
}
