output "tmsync_s3_uri" {
  description = "s3:// URI the builds fetch tmsync from."
  value       = local.tmsync_uri
}

output "tmsync_sha256" {
  description = "sha256 of the tmsync binary the builds accept."
  value       = local.tmsync_sha256
}

output "scripts_s3_prefix" {
  description = "s3:// prefix of the stage scripts."
  value       = "s3://${var.bucket_name}/${local.scripts_prefix}"
}

output "sha256sums" {
  description = "sha256sum --check lines of every installed file (bin/tmsync, build/<script>): the builds' TOOLS_SHA256SUMS."
  value       = local.sha256sums
}

output "external_object_arns" {
  description = "ARN of a given tmsync_s3_uri object (the builds' roles need to read it), else empty."
  value       = local.from_file ? [] : ["arn:aws:s3:::${trimprefix(var.tmsync_s3_uri, "s3://")}"]
}
