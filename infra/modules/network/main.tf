data "aws_region" "current" {}

locals {
  nat_count = var.enable_nat_gateway ? (var.single_nat_gateway ? 1 : length(var.azs)) : 0
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true # required by private DNS of interface endpoints
  tags                 = merge(var.tags, { Name = var.name })
}

# The default security group of the VPC allows nothing.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_subnet" "private" {
  count             = length(var.azs)
  vpc_id            = aws_vpc.this.id
  cidr_block        = var.private_subnet_cidrs[count.index]
  availability_zone = var.azs[count.index]
  tags              = merge(var.tags, { Name = "${var.name}-private-${var.azs[count.index]}", Tier = "private" })
}

resource "aws_subnet" "public" {
  count             = var.enable_nat_gateway ? length(var.azs) : 0
  vpc_id            = aws_vpc.this.id
  cidr_block        = var.public_subnet_cidrs[count.index]
  availability_zone = var.azs[count.index]
  tags              = merge(var.tags, { Name = "${var.name}-public-${var.azs[count.index]}", Tier = "public" })
}

resource "aws_internet_gateway" "this" {
  count  = var.enable_nat_gateway ? 1 : 0
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_route_table" "public" {
  count  = var.enable_nat_gateway ? 1 : 0
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  count                  = var.enable_nat_gateway ? 1 : 0
  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  count          = length(aws_subnet.public)
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_eip" "nat" {
  count  = local.nat_count
  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })
}

resource "aws_nat_gateway" "this" {
  count         = local.nat_count
  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })
  depends_on    = [aws_internet_gateway.this]
}

# One route table per private subnet, so each AZ can use its own NAT gateway.
resource "aws_route_table" "private" {
  count  = length(var.azs)
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-private-${var.azs[count.index]}" })
}

resource "aws_route" "private_nat" {
  count                  = local.nat_count > 0 ? length(var.azs) : 0
  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
}

resource "aws_route_table_association" "private" {
  count          = length(var.azs)
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# CodeBuild: no inbound; outbound HTTPS only (vendor registry through NAT or a proxy, AWS
# through the endpoints) and DNS inside the VPC (the Amazon resolver is not filtered by
# security groups). https_egress_cidrs narrows HTTPS to given destinations; the interface
# endpoints (in the VPC) and the S3 gateway endpoint (its prefix list) stay allowed.
locals {
  egress_anywhere = contains(var.https_egress_cidrs, "0.0.0.0/0")
}

resource "aws_security_group" "codebuild" {
  name        = "${var.name}-codebuild"
  description = "CodeBuild projects of the sync pipeline: HTTPS out only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-codebuild" })
}

resource "aws_security_group_rule" "codebuild_https" {
  count             = length(var.https_egress_cidrs) > 0 ? 1 : 0
  type              = "egress"
  security_group_id = aws_security_group.codebuild.id
  description       = local.egress_anywhere ? "HTTPS to the vendor registry (NAT) and AWS APIs (endpoints)" : "HTTPS to the allowed destinations (vendor registry, attestation server or the proxy)"
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_blocks       = var.https_egress_cidrs
}

resource "aws_security_group_rule" "codebuild_https_vpc" {
  count             = local.egress_anywhere ? 0 : 1
  type              = "egress"
  security_group_id = aws_security_group.codebuild.id
  description       = "HTTPS to the interface endpoints in the VPC"
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_blocks       = [aws_vpc.this.cidr_block]
}

resource "aws_security_group_rule" "codebuild_https_s3" {
  count             = !local.egress_anywhere && var.enable_s3_gateway_endpoint ? 1 : 0
  type              = "egress"
  security_group_id = aws_security_group.codebuild.id
  description       = "HTTPS to S3 through the gateway endpoint (artifacts, tools, ECR layers)"
  protocol          = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_ids   = [aws_vpc_endpoint.s3[0].prefix_list_id]
}

resource "aws_security_group_rule" "codebuild_proxy" {
  count             = var.proxy_port == null ? 0 : 1
  type              = "egress"
  security_group_id = aws_security_group.codebuild.id
  description       = "The HTTPS proxy (CONNECT) of the bank"
  protocol          = "tcp"
  from_port         = var.proxy_port
  to_port           = var.proxy_port
  cidr_blocks       = var.proxy_cidrs
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-endpoints"
  description = "Interface VPC endpoints: HTTPS from CodeBuild only"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-endpoints" })
}

resource "aws_security_group_rule" "endpoints_https" {
  type                     = "ingress"
  security_group_id        = aws_security_group.endpoints.id
  description              = "HTTPS from the CodeBuild security group"
  protocol                 = "tcp"
  from_port                = 443
  to_port                  = 443
  source_security_group_id = aws_security_group.codebuild.id
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = toset(var.interface_endpoints)
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${data.aws_region.current.name}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = aws_subnet.private[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  tags                = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

resource "aws_vpc_endpoint" "s3" {
  count             = var.enable_s3_gateway_endpoint ? 1 : 0
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

resource "aws_flow_log" "this" {
  count                = var.flow_log_group_arn == null ? 0 : 1
  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = var.flow_log_group_arn
  iam_role_arn         = var.flow_log_role_arn
  tags                 = var.tags
}
