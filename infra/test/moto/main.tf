# Test-only root: composes the modules with moto-friendly inputs and applies them against a
# moto_server (infra_test.go). Not for real accounts. Each include_* switch leaves out what
# moto cannot do (see infra/README.md, "What the moto test covers").
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    cloudwatch     = var.endpoint
    cloudwatchlogs = var.endpoint
    codebuild      = var.endpoint
    codecommit     = var.endpoint
    codepipeline   = var.endpoint
    ec2            = var.endpoint
    ecr            = var.endpoint
    events         = var.endpoint
    iam            = var.endpoint
    kms            = var.endpoint
    s3             = var.endpoint
    secretsmanager = var.endpoint
    sts            = var.endpoint
  }
}

locals {
  name   = "tm-sync-moto"
  prefix = "/3rdparty/tm/"
}

data "aws_caller_identity" "current" {}

module "network" {
  source = "../../modules/network"
  count  = var.include_network ? 1 : 0

  name                 = local.name
  azs                  = ["us-east-1a", "us-east-1b"]
  private_subnet_cidrs = ["10.42.0.0/26", "10.42.0.64/26"]
  public_subnet_cidrs  = ["10.42.0.128/27", "10.42.0.160/27"]
}

module "kms" {
  source   = "../../modules/kms"
  for_each = toset(["ecr", "s3", "secrets", "logs"])

  alias                   = "${local.name}-${each.key}"
  description             = "${local.name} ${each.key}"
  deletion_window_in_days = 7
  rotation_period_in_days = null # moto does not return the period: a fixed one would drift
  allow_cloudwatch_logs   = each.key == "logs"
}

module "artifacts" {
  source = "../../modules/artifacts"

  bucket_name   = "tm-artifacts-${data.aws_caller_identity.current.account_id}-sync-pipeline-s3"
  kms_key_arn   = module.kms["s3"].key_arn
  force_destroy = true
  # moto answers the lifecycle configuration so that the provider waits ~60 s for it to
  # settle; the rest of the bucket is applied.
  noncurrent_version_expiration_days = 0
}

# The s3 source: a versioned bucket. Its EventBridge notifications are left to the plan of
# the real root: moto does not return them, so every plan would want to set them again.
module "source_bucket" {
  source = "../../modules/artifacts"

  bucket_name                        = "tm-source-${data.aws_caller_identity.current.account_id}-sync-pipeline-s3"
  kms_key_arn                        = module.kms["s3"].key_arn
  force_destroy                      = true
  noncurrent_version_expiration_days = 0
  eventbridge_notifications          = false
}

# What the builds install: the binary (a stand-in file from the test) and the stage scripts.
# moto enforces bucket policies, and the artifacts bucket's TLS-only policy refuses the
# test's plain-HTTP endpoint, so here they go to a bucket of their own.
resource "aws_s3_bucket" "tools" {
  bucket        = "tm-tools-${data.aws_caller_identity.current.account_id}-moto"
  force_destroy = true
}

module "tools" {
  source = "../../modules/tools"
  count  = var.tmsync_binary_file == null ? 0 : 1

  bucket_name        = aws_s3_bucket.tools.id
  kms_key_arn        = module.kms["s3"].key_arn
  tmsync_binary_file = var.tmsync_binary_file
  scripts = {
    "gate.sh"          = "${path.module}/../../../build/gate.sh"
    "find-sync-log.sh" = "${path.module}/../../../build/find-sync-log.sh"
  }
}

module "logs" {
  source = "../../modules/logs"

  name        = "/aws/codebuild/${local.name}"
  kms_key_arn = module.kms["logs"].key_arn
}

module "secret" {
  source = "../../modules/secret"

  kms_key_arn             = module.kms["secrets"].key_arn
  recovery_window_in_days = 0
}

module "codecommit" {
  source = "../../modules/codecommit"
  count  = var.include_codecommit ? 1 : 0

  name = "sync-tm-docker-repo"
}

locals {
  account = data.aws_caller_identity.current.account_id
  # Without the modules, their names and ARNs (the pipeline and IAM only need strings).
  codecommit_name = var.include_codecommit ? module.codecommit[0].name : "sync-tm-docker-repo"
  codecommit_arn  = var.include_codecommit ? module.codecommit[0].arn : "arn:aws:codecommit:us-east-1:${local.account}:sync-tm-docker-repo"
  sync_project    = var.include_codebuild ? module.codebuild_sync[0].name : "${local.name}-sync"
  verify_project  = var.include_codebuild ? module.codebuild_verify[0].name : "${local.name}-verify"
}

module "iam" {
  source = "../../modules/iam"

  name                  = local.name
  ecr_repository_prefix = local.prefix
  ecr_kms_key_arn       = module.kms["ecr"].key_arn
  s3_kms_key_arn        = module.kms["s3"].key_arn
  secrets_kms_key_arn   = module.kms["secrets"].key_arn
  artifacts_bucket_arn  = module.artifacts.bucket_arn
  token_secret_arn      = module.secret.arn
  log_group_arn         = module.logs.arn
  source_provider       = "s3"
  source_bucket_arn     = module.source_bucket.bucket_arn
  sync_project_name     = "${local.name}-sync"
  verify_project_name   = "${local.name}-verify"
  pipeline_name         = local.name
  vpc_id                = var.include_network ? module.network[0].vpc_id : null
  private_subnet_ids    = var.include_network ? module.network[0].private_subnet_ids : []
}

# A repository as tmsync creates it (KMS, immutable tags, scan on push, lifecycle), to show
# the ECR key works with ECR; the real stack leaves repository creation to tmsync.
resource "aws_ecr_repository" "sample" {
  name                 = "${trim(local.prefix, "/")}/vault/xpl/xpl_payees"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = true
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = module.kms["ecr"].key_arn
  }
  image_scanning_configuration {
    scan_on_push = true
  }
}

resource "aws_ecr_lifecycle_policy" "sample" {
  repository = aws_ecr_repository.sample.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "expire untagged images"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = 2
      }
      action = { type = "expire" }
    }]
  })
}

module "codebuild_sync" {
  source = "../../modules/codebuild"
  count  = var.include_codebuild ? 1 : 0

  name                  = "${local.name}-sync"
  service_role_arn      = module.iam.codebuild_sync_role_arn
  buildspec             = "build/buildspec_build.yaml"
  environment_variables = { ECR_KMS_ARN = module.kms["ecr"].key_arn, ARTIFACTS_BUCKET = module.artifacts.bucket_name }
  encryption_key_arn    = module.kms["s3"].key_arn
  log_group_name        = module.logs.name
  vpc_id                = var.include_network ? module.network[0].vpc_id : null
  subnet_ids            = var.include_network ? module.network[0].private_subnet_ids : []
  security_group_ids    = var.include_network ? [module.network[0].codebuild_security_group_id] : []
}

module "codebuild_verify" {
  source = "../../modules/codebuild"
  count  = var.include_codebuild ? 1 : 0

  name                  = "${local.name}-verify"
  service_role_arn      = module.iam.codebuild_verify_role_arn
  buildspec             = "build/buildspec_verify.yaml"
  environment_variables = { ECR_KMS_ARN = module.kms["ecr"].key_arn, ARTIFACTS_BUCKET = module.artifacts.bucket_name }
  encryption_key_arn    = module.kms["s3"].key_arn
  log_group_name        = module.logs.name
}

module "pipeline" {
  source = "../../modules/pipeline"
  count  = var.include_pipeline ? 1 : 0

  name                       = local.name
  role_arn                   = module.iam.pipeline_role_arn
  artifacts_bucket_name      = module.artifacts.bucket_name
  artifacts_kms_key_arn      = module.kms["s3"].key_arn
  codecommit_repository_name = local.codecommit_name
  codecommit_repository_arn  = local.codecommit_arn
  sync_project_name          = local.sync_project
  verify_project_name        = local.verify_project
  events_role_arn            = module.iam.events_role_arn
}

