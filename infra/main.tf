data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account     = data.aws_caller_identity.current.account_id
  bucket_name = "tm-artifacts-${local.account}-sync-pipeline-s3"
  # Names and ARNs known at plan time (the pipeline's source configuration shows in a plan).
  source_bucket_name = "tm-source-${local.account}-sync-pipeline-s3"
  codecommit_arn     = "arn:${data.aws_partition.current.partition}:codecommit:${data.aws_region.current.name}:${local.account}:${var.codecommit_repository_name}"
  sync_project       = "${var.name}-sync"
  verify_project     = "${var.name}-verify"
  log_group_name     = "/aws/codebuild/${var.name}"
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
  enable_nat_gateway   = var.nat_gateway
  https_egress_cidrs   = var.https_egress_cidrs
  proxy_port           = var.https_proxy == null ? null : tonumber(regex(":([0-9]+)/?$", var.https_proxy)[0])
  proxy_cidrs          = var.https_proxy_cidrs
}

module "kms" {
  source   = "./modules/kms"
  for_each = local.kms_keys

  alias                 = "${var.name}-${each.key}"
  description           = "${var.name}: ${each.value}"
  key_admin_arns        = var.kms_key_admin_arns
  allow_cloudwatch_logs = each.key == "logs"
}

# The bank's evidence signing key (issue 19), when asked: asymmetric, the private key
# never leaves KMS.
module "signing_key" {
  source = "./modules/kms"
  count  = var.create_signing_key ? 1 : 0

  alias          = "${var.name}-signing"
  description    = "${var.name}: the bank's signature on every image tmsync puts in ECR (cosign)"
  key_usage      = "SIGN_VERIFY"
  key_spec       = "ECC_NIST_P256"
  key_admin_arns = var.kms_key_admin_arns
}

locals {
  signing_key_arn = var.create_signing_key ? module.signing_key[0].key_arn : var.signing_kms_key_arn
}

resource "terraform_data" "signing_key_inputs" {
  count = var.create_signing_key ? 1 : 0
  input = var.create_signing_key
  lifecycle {
    precondition {
      condition     = var.signing_kms_key_arn == null
      error_message = "Set create_signing_key or signing_kms_key_arn, not both."
    }
  }
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

# ---------------------------------------------------------------- source (one of three)

module "codecommit" {
  source = "./modules/codecommit"
  count  = var.source_provider == "codecommit" ? 1 : 0

  name = var.codecommit_repository_name
}

# s3: a versioned bucket the operator uploads the release zip to; its events start the pipeline.
module "source_bucket" {
  source = "./modules/artifacts"
  count  = var.source_provider == "s3" ? 1 : 0

  bucket_name               = local.source_bucket_name
  kms_key_arn               = module.kms["s3"].key_arn
  eventbridge_notifications = true
}

# codestar-connections: a connection made here is PENDING until an administrator completes
# the handshake with GitHub/GitLab/Bitbucket in the console (infra/README.md).
resource "aws_codestarconnections_connection" "source" {
  count         = var.source_provider == "codestar-connections" && var.codestar_connection_arn == null ? 1 : 0
  name          = substr("${var.name}-src", 0, 32)
  provider_type = var.codestar_provider_type
}

locals {
  codestar_connection_arn = var.source_provider != "codestar-connections" ? null : coalesce(var.codestar_connection_arn, one(aws_codestarconnections_connection.source[*].arn))
}

# ---------------------------------------------------------------- what the builds install

module "tools" {
  source = "./modules/tools"
  count  = var.tmsync_install == "artifact" ? 1 : 0

  bucket_name        = module.artifacts.bucket_name
  kms_key_arn        = module.kms["s3"].key_arn
  tmsync_binary_file = var.tmsync_binary_file
  tmsync_s3_uri      = var.tmsync_s3_uri
  tmsync_sha256      = var.tmsync_sha256
  scripts = {
    "gate.sh"          = "${path.module}/../build/gate.sh"
    "find-sync-log.sh" = "${path.module}/../build/find-sync-log.sh"
  }
}

module "iam" {
  source = "./modules/iam"

  name                       = var.name
  ecr_repository_prefix      = var.ecr_repository_prefix
  ecr_kms_key_arn            = module.kms["ecr"].key_arn
  s3_kms_key_arn             = module.kms["s3"].key_arn
  secrets_kms_key_arn        = module.kms["secrets"].key_arn
  artifacts_bucket_arn       = module.artifacts.bucket_arn
  token_secret_arn           = module.secret.arn
  log_group_arn              = module.logs.arn
  source_provider            = var.source_provider
  codecommit_repository_arn  = one(module.codecommit[*].arn)
  source_bucket_arn          = one(module.source_bucket[*].bucket_arn)
  codestar_connection_arn    = local.codestar_connection_arn
  tools_object_arns          = var.tmsync_install == "artifact" ? module.tools[0].external_object_arns : []
  sync_project_name          = local.sync_project
  verify_project_name        = local.verify_project
  pipeline_name              = var.name
  vpc_id                     = module.network.vpc_id
  private_subnet_ids         = module.network.private_subnet_ids
  permissions_boundary_arn   = var.permissions_boundary_arn
  signing_enabled            = var.create_signing_key || var.signing_kms_key_arn != null
  signing_kms_key_arn        = local.signing_key_arn
  allow_enable_blob_mounting = var.allow_enable_blob_mounting
}

locals {
  build_env = merge(
    {
      ECR_KMS_ARN       = module.kms["ecr"].key_arn
      ECR_PREFIX        = var.ecr_repository_prefix
      ARTIFACTS_BUCKET  = module.artifacts.bucket_name
      TOKEN_SECRET_NAME = module.secret.name
      TMSYNC_INSTALL    = var.tmsync_install
      # The trust anchor: the vendor attestor key(s) the bank got from Thought Machine.
      # src_attestor.pgp comes with the release upload; this pin does not. tmsync reads
      # it as --src-attestor-fingerprint (comma-separated); the buildspecs refuse to run
      # without it. Each in the normal form variables.tf's check reads: white space
      # dropped, upper case, no prefix.
      TMSYNC_SRC_ATTESTOR_FINGERPRINT = join(",", [for f in var.src_attestor_fingerprints : trimprefix(trimprefix(upper(replace(f, "/[\\t\\n\\v\\f\\r\\x{85}\\pZ]/", "")), "OPENPGP4FPR:"), "0X")])
    },
    # artifact: where the binary and scripts are, and the sha256 each must have.
    var.tmsync_install == "artifact" ? {
      TMSYNC_S3_URI    = module.tools[0].tmsync_s3_uri
      TOOLS_S3_PREFIX  = module.tools[0].scripts_s3_prefix
      TOOLS_SHA256SUMS = module.tools[0].sha256sums
    } : {},
    # source: make build, modules only as go.sum pins them, from the given proxy.
    # The bank's signing key: the buildspecs pass it as --sign-kms-key.
    local.signing_key_arn == null ? {} : { TMSYNC_SIGN_KMS_KEY = local.signing_key_arn },
    var.tmsync_install == "source" ? merge(var.source_build_env, { GOFLAGS = "-mod=readonly -buildvcs=false" }) : {},
    var.https_proxy == null ? {} : {
      HTTPS_PROXY = var.https_proxy
      # AWS APIs through the VPC endpoints; CodeBuild's credential and metadata addresses.
      NO_PROXY = ".amazonaws.com,169.254.170.2,169.254.169.254"
    },
  )
  buildspec_dir = "${path.module}/../build"
}

module "codebuild_sync" {
  source = "./modules/codebuild"

  name             = local.sync_project
  description      = "tmsync sync: copy the Thought Machine release into ECR"
  service_role_arn = module.iam.codebuild_sync_role_arn
  buildspec        = file("${local.buildspec_dir}/${var.sync_sharded ? "buildspec_build_sharded.yaml" : "buildspec_build.yaml"}")
  image            = var.build_image
  compute_type     = var.build_compute_type
  # Only sync may turn BLOB_MOUNTING on (its role alone gets ecr:PutAccountSetting).
  environment_variables = merge(local.build_env, var.allow_enable_blob_mounting ? { TMSYNC_ENABLE_BLOB_MOUNTING = "true" } : {})
  encryption_key_arn    = module.kms["s3"].key_arn
  log_group_name        = module.logs.name
  vpc_id                = module.network.vpc_id
  subnet_ids            = module.network.private_subnet_ids
  security_group_ids    = [module.network.codebuild_security_group_id]
  report_groups         = ["sync-junit"]
  reports_bucket_name   = module.artifacts.bucket_name
  batch_enabled         = var.sync_sharded
  cache_bucket_name     = var.tmsync_install == "source" ? local.bucket_name : null
}

module "codebuild_verify" {
  source = "./modules/codebuild"

  name                  = local.verify_project
  description           = "tmsync verify: gate the pipeline on a complete, verified release in ECR"
  service_role_arn      = module.iam.codebuild_verify_role_arn
  buildspec             = file("${local.buildspec_dir}/buildspec_verify.yaml")
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
  cache_bucket_name     = var.tmsync_install == "source" ? local.bucket_name : null
}

module "pipeline" {
  source = "./modules/pipeline"

  name                       = var.name
  role_arn                   = module.iam.pipeline_role_arn
  artifacts_bucket_name      = module.artifacts.bucket_name
  artifacts_kms_key_arn      = module.kms["s3"].key_arn
  source_provider            = var.source_provider
  codecommit_repository_name = var.source_provider == "codecommit" ? var.codecommit_repository_name : null
  codecommit_repository_arn  = var.source_provider == "codecommit" ? local.codecommit_arn : null
  source_bucket_name         = var.source_provider == "s3" ? local.source_bucket_name : null
  source_object_key          = var.source_object_key
  codestar_connection_arn    = local.codestar_connection_arn
  codestar_repository_id     = var.codestar_repository_id
  branch                     = var.source_branch
  sync_project_name          = module.codebuild_sync.name
  sync_batch                 = var.sync_sharded
  verify_project_name        = module.codebuild_verify.name
  events_role_arn            = module.iam.events_role_arn

  # The names above are strings known at plan time; the source must exist first.
  depends_on = [module.codecommit, module.source_bucket]
}
