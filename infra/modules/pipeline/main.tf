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

  stage {
    name = "Source"
    action {
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

resource "aws_cloudwatch_event_rule" "push" {
  name        = "${var.name}-on-push"
  description = "Start ${var.name} on a push to ${var.branch} of ${var.codecommit_repository_name}"
  tags        = var.tags
  event_pattern = jsonencode({
    source        = ["aws.codecommit"]
    "detail-type" = ["CodeCommit Repository State Change"]
    resources     = [var.codecommit_repository_arn]
    detail = {
      event         = ["referenceCreated", "referenceUpdated"]
      referenceType = ["branch"]
      referenceName = [var.branch]
    }
  })
}

resource "aws_cloudwatch_event_target" "pipeline" {
  rule     = aws_cloudwatch_event_rule.push.name
  arn      = aws_codepipeline.this.arn
  role_arn = var.events_role_arn
}
