data "aws_caller_identity" "current" {}

locals {
  account        = data.aws_caller_identity.current.account_id
  bucket_name    = "tm-artifacts-${local.account}-sync-pipeline-s3"
  sync_project   = "${var.name}-sync"
  verify_project = "${var.name}-verify"
  log_group_name = "/aws/codebuild/${var.name}"
  kms_keys = {
    ecr     = "ECR repositories of the Thought Machine images"
    s3      = "Pipeline artifacts bucket"
    secrets = "Secrets Manager: the vendor token"
    logs    = "CloudWatch Logs of the sync builds"
  }
}

module "network" {
  source = "./modules/network"

  name                 = var.name
  cidr_block           = var.vpc_cidr
  azs                  = var.azs
  private_subnet_cidrs = var.private_subnet_cidrs
  public_subnet_cidrs  = var.public_subnet_cidrs
  single_nat_gateway   = var.single_nat_gateway
}

module "kms" {
  source   = "./modules/kms"
  for_each = local.kms_keys

  alias                 = "${var.name}-${each.key}"
  description           = "${var.name}: ${each.value}"
  key_admin_arns        = var.kms_key_admin_arns
  allow_cloudwatch_logs = each.key == "logs"
}

module "artifacts" {
  source = "./modules/artifacts"

  bucket_name = local.bucket_name
  kms_key_arn = module.kms["s3"].key_arn
}

module "logs" {
  source = "./modules/logs"

  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_arn       = module.kms["logs"].key_arn
}

module "secret" {
  source = "./modules/secret"

  name        = var.token_secret_name
  kms_key_arn = module.kms["secrets"].key_arn
}

module "codecommit" {
  source = "./modules/codecommit"

  name = var.codecommit_repository_name
}

module "iam" {
  source = "./modules/iam"

  name                      = var.name
  ecr_repository_prefix     = var.ecr_repository_prefix
  ecr_kms_key_arn           = module.kms["ecr"].key_arn
  s3_kms_key_arn            = module.kms["s3"].key_arn
  secrets_kms_key_arn       = module.kms["secrets"].key_arn
  artifacts_bucket_arn      = module.artifacts.bucket_arn
  token_secret_arn          = module.secret.arn
  log_group_arn             = module.logs.arn
  codecommit_repository_arn = module.codecommit.arn
  sync_project_name         = local.sync_project
  verify_project_name       = local.verify_project
  pipeline_name             = var.name
  vpc_id                    = module.network.vpc_id
  private_subnet_ids        = module.network.private_subnet_ids
  permissions_boundary_arn  = var.permissions_boundary_arn
}

locals {
  build_env = {
    ECR_KMS_ARN       = module.kms["ecr"].key_arn
    ECR_PREFIX        = var.ecr_repository_prefix
    ARTIFACTS_BUCKET  = module.artifacts.bucket_name
    TOKEN_SECRET_NAME = module.secret.name
  }
}

module "codebuild_sync" {
  source = "./modules/codebuild"

  name                  = local.sync_project
  description           = "tmsync sync: copy the Thought Machine release into ECR"
  service_role_arn      = module.iam.codebuild_sync_role_arn
  buildspec             = var.sync_sharded ? "build/buildspec_build_sharded.yaml" : "build/buildspec_build.yaml"
  image                 = var.build_image
  compute_type          = var.build_compute_type
  environment_variables = local.build_env
  encryption_key_arn    = module.kms["s3"].key_arn
  log_group_name        = module.logs.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  security_group_ids    = [module.network.codebuild_security_group_id]
  report_groups         = ["sync-junit"]
  reports_bucket_name   = module.artifacts.bucket_name
  batch_enabled         = var.sync_sharded
}

module "codebuild_verify" {
  source = "./modules/codebuild"

  name                  = local.verify_project
  description           = "tmsync verify: gate the pipeline on a complete, verified release in ECR"
  service_role_arn      = module.iam.codebuild_verify_role_arn
  buildspec             = "build/buildspec_verify.yaml"
  image                 = var.build_image
  compute_type          = var.build_compute_type
  build_timeout_minutes = 120
  environment_variables = local.build_env
  encryption_key_arn    = module.kms["s3"].key_arn
  log_group_name        = module.logs.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  security_group_ids    = [module.network.codebuild_security_group_id]
  report_groups         = ["verify-junit"]
  reports_bucket_name   = module.artifacts.bucket_name
}

module "pipeline" {
  source = "./modules/pipeline"

  name                       = var.name
  role_arn                   = module.iam.pipeline_role_arn
  artifacts_bucket_name      = module.artifacts.bucket_name
  artifacts_kms_key_arn      = module.kms["s3"].key_arn
  codecommit_repository_name = module.codecommit.name
  codecommit_repository_arn  = module.codecommit.arn
  branch                     = var.source_branch
  sync_project_name          = module.codebuild_sync.name
  sync_batch                 = var.sync_sharded
  verify_project_name        = module.codebuild_verify.name
  events_role_arn            = module.iam.events_role_arn
}
