# What every build installs instead of compiling tmsync: the tmsync binary (from a local
# file, uploaded here, or a given S3 location) and the stage scripts, each pinned by its
# sha256. The pins reach the builds as CodeBuild environment variables set by Terraform, not
# as files next to the objects: whoever can write the bucket cannot also change the pin.
locals {
  from_file     = var.tmsync_binary_file != null
  tmsync_sha256 = lower(local.from_file ? filesha256(var.tmsync_binary_file) : coalesce(var.tmsync_sha256, "unset"))
  # Content-addressed keys: a new binary is a new object; old runs' objects stay.
  tmsync_key = "${var.prefix}/tmsync-${substr(local.tmsync_sha256, 0, 16)}/tmsync"
  tmsync_uri = local.from_file ? "s3://${var.bucket_name}/${local.tmsync_key}" : var.tmsync_s3_uri

  scripts_sha256 = { for name, path in var.scripts : name => filesha256(path) }
  scripts_prefix = "${var.prefix}/scripts-${substr(sha256(jsonencode(local.scripts_sha256)), 0, 16)}"

  # sha256sum --check format, paths as the buildspecs install them.
  sha256sums = join("\n", concat(
    ["${local.tmsync_sha256}  bin/tmsync"],
    [for name in sort(keys(var.scripts)) : "${local.scripts_sha256[name]}  build/${name}"],
  ))
}

resource "terraform_data" "inputs" {
  input = local.tmsync_sha256
  lifecycle {
    precondition {
      condition     = (var.tmsync_binary_file == null) != (var.tmsync_s3_uri == null)
      error_message = "Set exactly one of tmsync_binary_file (a file of make dist, uploaded by Terraform) and tmsync_s3_uri (with tmsync_sha256)."
    }
    precondition {
      condition     = var.tmsync_sha256 == null || can(regex("^[0-9a-fA-F]{64}$", coalesce(var.tmsync_sha256, "-")))
      error_message = "tmsync_sha256 must be 64 hex digits: the hash at the start of the binary's line of SHA256SUMS, without the file name."
    }
    precondition {
      condition     = local.from_file || var.tmsync_sha256 != null
      error_message = "tmsync_s3_uri needs tmsync_sha256: the builds refuse a binary they cannot check."
    }
    precondition {
      condition     = !local.from_file || var.tmsync_sha256 == null || lower(coalesce(var.tmsync_sha256, "-")) == local.tmsync_sha256
      error_message = "tmsync_binary_file does not match tmsync_sha256: not the binary SHA256SUMS names."
    }
    precondition {
      condition     = var.tmsync_s3_uri == null || can(regex("^s3://[a-z0-9.-]{3,63}/.+", coalesce(var.tmsync_s3_uri, "-")))
      error_message = "tmsync_s3_uri must look like s3://bucket/key."
    }
  }
}

resource "aws_s3_object" "tmsync" {
  count       = local.from_file ? 1 : 0
  bucket      = var.bucket_name
  key         = local.tmsync_key
  source      = var.tmsync_binary_file
  source_hash = local.tmsync_sha256
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
  depends_on  = [terraform_data.inputs]
}

resource "aws_s3_object" "scripts" {
  for_each    = var.scripts
  bucket      = var.bucket_name
  key         = "${local.scripts_prefix}/${each.key}"
  source      = each.value
  source_hash = local.scripts_sha256[each.key]
  kms_key_id  = var.kms_key_arn
  tags        = var.tags
}
