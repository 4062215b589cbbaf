data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  ecr_actions = var.ecr_actions == null ? local.tmsync_ecr_actions : var.ecr_actions
  # GetAuthorizationToken and GetAccountSetting have no resource; every other action is
  # scoped to the prefix.
  ecr_account_actions    = [for a in local.ecr_actions : a if contains(["ecr:GetAuthorizationToken", "ecr:GetAccountSetting"], a)]
  ecr_repository_actions = [for a in local.ecr_actions : a if !contains(local.ecr_account_actions, a)]
  # Verify only reads: the Get/Describe/List/BatchGet/BatchCheck part of the same list.
  read_only_ecr_actions = [for a in local.ecr_repository_actions : a if can(regex("^ecr:(Get|Describe|List|BatchGet|BatchCheck)", a))]

  ecr_prefix          = trim(var.ecr_repository_prefix, "/")
  ecr_repository_arns = ["arn:${local.partition}:ecr:${local.region}:${local.account}:repository/${local.ecr_prefix}/*"]

  project_arn = {
    sync   = "arn:${local.partition}:codebuild:${local.region}:${local.account}:project/${var.sync_project_name}"
    verify = "arn:${local.partition}:codebuild:${local.region}:${local.account}:project/${var.verify_project_name}"
  }
  report_group_arn = {
    sync   = "arn:${local.partition}:codebuild:${local.region}:${local.account}:report-group/${var.sync_project_name}-*"
    verify = "arn:${local.partition}:codebuild:${local.region}:${local.account}:report-group/${var.verify_project_name}-*"
  }
  pipeline_arn = "arn:${local.partition}:codepipeline:${local.region}:${local.account}:${var.pipeline_name}"
  subnet_arns  = [for s in var.private_subnet_ids : "arn:${local.partition}:ec2:${local.region}:${local.account}:subnet/${s}"]
}

# ---------------------------------------------------------------- CodeBuild (sync, verify)

data "aws_iam_policy_document" "codebuild_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

# What both builds need: logs, artifacts, the token, identity, VPC networking, reports.
data "aws_iam_policy_document" "codebuild_common" {
  for_each = local.project_arn

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arn}:*"]
  }

  statement {
    sid       = "ArtifactsBucket"
    actions   = ["s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]
  }

  statement {
    sid       = "ArtifactsObjects"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${var.artifacts_bucket_arn}/*"]
  }

  statement {
    sid       = "ArtifactsKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [var.s3_kms_key_arn]
  }

  dynamic "statement" {
    for_each = length(var.tools_object_arns) > 0 ? [1] : []
    content {
      sid       = "ToolsObjects"
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = var.tools_object_arns
    }
  }

  statement {
    sid       = "TokenSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.token_secret_arn]
  }

  statement {
    sid       = "TokenSecretKey"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "Identity"
    actions   = ["sts:GetCallerIdentity"]
    resources = ["*"]
  }

  statement {
    sid = "ReportGroups"
    actions = [
      "codebuild:CreateReportGroup", "codebuild:CreateReport", "codebuild:UpdateReport",
      "codebuild:BatchPutTestCases", "codebuild:BatchPutCodeCoverages",
    ]
    resources = [local.report_group_arn[each.key]]
  }

  # Batch builds (the sharded buildspec): the project starts its own child builds.
  statement {
    sid       = "BatchBuilds"
    actions   = ["codebuild:StartBuild", "codebuild:StopBuild", "codebuild:RetryBuild"]
    resources = [each.value]
  }

  dynamic "statement" {
    for_each = var.vpc_id == null ? [] : [1]
    content {
      sid = "VpcDescribe"
      actions = [
        "ec2:CreateNetworkInterface", "ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs",
      ]
      resources = ["*"] # these EC2 actions do not support resource-level permissions
    }
  }

  dynamic "statement" {
    for_each = var.vpc_id == null ? [] : [1]
    content {
      sid       = "VpcNetworkInterfacePermission"
      actions   = ["ec2:CreateNetworkInterfacePermission"]
      resources = ["arn:${local.partition}:ec2:${local.region}:${local.account}:network-interface/*"]
      condition {
        test     = "StringEquals"
        variable = "ec2:AuthorizedService"
        values   = ["codebuild.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "ec2:Subnet"
        values   = local.subnet_arns
      }
    }
  }
}

data "aws_iam_policy_document" "ecr" {
  for_each = {
    sync   = local.ecr_repository_actions
    verify = local.read_only_ecr_actions
  }

  statement {
    sid       = "EcrAuth"
    actions   = local.ecr_account_actions
    resources = ["*"] # no resource-level permission for these actions
  }

  # tmsync --enable-blob-mounting turns ECR's BLOB_MOUNTING account setting on
  # (ecrtarget.EnableBlobMountingActions()); granted only when asked for.
  dynamic "statement" {
    for_each = each.key == "sync" && var.allow_enable_blob_mounting ? [1] : []
    content {
      sid       = "EcrBlobMounting"
      actions   = ["ecr:PutAccountSetting"]
      resources = ["*"]
    }
  }

  statement {
    sid       = "EcrRepositories"
    actions   = each.value
    resources = local.ecr_repository_arns
  }

  statement {
    sid       = "EcrKey"
    actions   = each.key == "sync" ? ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"] : ["kms:Decrypt", "kms:DescribeKey"]
    resources = [var.ecr_kms_key_arn]
  }

  # CreateRepository with a KMS key makes ECR create a grant on the key for itself.
  dynamic "statement" {
    for_each = each.key == "sync" ? [1] : []
    content {
      sid       = "EcrKeyGrant"
      actions   = ["kms:CreateGrant", "kms:RetireGrant"]
      resources = [var.ecr_kms_key_arn]
      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }
}

# The bank's signing key (issue 19): sync signs each image's cosign payload (kms:Sign) and
# reads the public key to check what is there; verify only reads the public key.
data "aws_iam_policy_document" "signing" {
  for_each = var.signing_enabled ? local.project_arn : {}

  statement {
    sid       = "BankSigningKey"
    actions   = each.key == "sync" ? ["kms:GetPublicKey", "kms:Sign"] : ["kms:GetPublicKey"]
    resources = [var.signing_kms_key_arn]
  }
}

resource "aws_iam_role_policy" "codebuild_signing" {
  for_each = data.aws_iam_policy_document.signing
  name     = "evidence-signing"
  role     = aws_iam_role.codebuild[each.key].id
  policy   = each.value.json
}

resource "aws_iam_role" "codebuild" {
  for_each             = local.project_arn
  name                 = "${var.name}-codebuild-${each.key}"
  description          = "CodeBuild ${each.key} stage of ${var.pipeline_name}"
  assume_role_policy   = data.aws_iam_policy_document.codebuild_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "codebuild_common" {
  for_each = local.project_arn
  name     = "build"
  role     = aws_iam_role.codebuild[each.key].id
  policy   = data.aws_iam_policy_document.codebuild_common[each.key].json
}

resource "aws_iam_role_policy" "codebuild_ecr" {
  for_each = local.project_arn
  name     = "ecr"
  role     = aws_iam_role.codebuild[each.key].id
  policy   = data.aws_iam_policy_document.ecr[each.key].json
}

# ---------------------------------------------------------------- CodePipeline

data "aws_iam_policy_document" "pipeline_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codepipeline.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

data "aws_iam_policy_document" "pipeline" {
  statement {
    sid       = "ArtifactsBucket"
    actions   = ["s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:ListBucket"]
    resources = [var.artifacts_bucket_arn]
  }

  statement {
    sid       = "ArtifactsObjects"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${var.artifacts_bucket_arn}/*"]
  }

  statement {
    sid       = "ArtifactsKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [var.s3_kms_key_arn]
  }

  # The source stage: only what the chosen provider needs.
  dynamic "statement" {
    for_each = var.source_provider == "codecommit" ? [1] : []
    content {
      sid = "SourceCodeCommit"
      actions = [
        "codecommit:GetBranch", "codecommit:GetCommit", "codecommit:GetRepository",
        "codecommit:UploadArchive", "codecommit:GetUploadArchiveStatus", "codecommit:CancelUploadArchive",
      ]
      resources = [var.codecommit_repository_arn]
    }
  }

  dynamic "statement" {
    for_each = var.source_provider == "s3" ? [1] : []
    content {
      sid       = "SourceBucket"
      actions   = ["s3:GetBucketVersioning", "s3:GetBucketLocation", "s3:ListBucket"]
      resources = [var.source_bucket_arn]
    }
  }

  dynamic "statement" {
    for_each = var.source_provider == "s3" ? [1] : []
    content {
      sid       = "SourceObject"
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = ["${var.source_bucket_arn}/*"]
    }
  }

  dynamic "statement" {
    for_each = var.source_provider == "codestar-connections" ? [1] : []
    content {
      sid       = "SourceConnection"
      actions   = ["codestar-connections:UseConnection", "codeconnections:UseConnection"]
      resources = [var.codestar_connection_arn]
    }
  }

  statement {
    sid = "Builds"
    actions = [
      "codebuild:StartBuild", "codebuild:BatchGetBuilds",
      "codebuild:StartBuildBatch", "codebuild:BatchGetBuildBatches",
    ]
    resources = values(local.project_arn)
  }
}

resource "aws_iam_role" "pipeline" {
  name                 = "${var.name}-codepipeline"
  description          = "CodePipeline ${var.pipeline_name}"
  assume_role_policy   = data.aws_iam_policy_document.pipeline_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "pipeline"
  role   = aws_iam_role.pipeline.id
  policy = data.aws_iam_policy_document.pipeline.json
}

# ---------------------------------------------------------------- EventBridge -> pipeline

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "events" {
  statement {
    actions   = ["codepipeline:StartPipelineExecution"]
    resources = [local.pipeline_arn]
  }
}

resource "aws_iam_role" "events" {
  name                 = "${var.name}-events"
  description          = "EventBridge: start ${var.pipeline_name} on a push to the source branch"
  assume_role_policy   = data.aws_iam_policy_document.events_assume.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "events" {
  name   = "start-pipeline"
  role   = aws_iam_role.events.id
  policy = data.aws_iam_policy_document.events.json
}
