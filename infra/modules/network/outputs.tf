output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_arn" {
  description = "ARN of the VPC."
  value       = aws_vpc.this.arn
}

output "private_subnet_ids" {
  description = "Private subnets CodeBuild runs in."
  value       = aws_subnet.private[*].id
}

output "public_subnet_ids" {
  description = "Public subnets holding the NAT gateway(s)."
  value       = aws_subnet.public[*].id
}

output "codebuild_security_group_id" {
  description = "Security group for the CodeBuild projects."
  value       = aws_security_group.codebuild.id
}

output "endpoint_security_group_id" {
  description = "Security group of the interface endpoints."
  value       = aws_security_group.endpoints.id
}

output "interface_endpoint_ids" {
  description = "Interface endpoint IDs by service short name."
  value       = { for k, v in aws_vpc_endpoint.interface : k => v.id }
}

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint, or null."
  value       = one(aws_vpc_endpoint.s3[*].id)
}

output "nat_public_ips" {
  description = "Public IPs of the NAT gateways: the addresses the vendor registry sees (for an allow-list)."
  value       = aws_eip.nat[*].public_ip
}
