# The ECR actions tmsync calls: keep this list equal to ecrtarget.IAMActions() plus
# ecrtarget.PushActions() in the Go code, the one place to update when tmsync starts calling
# a new API (infra_test.go TestECRActions checks it). The sync role gets all
# of them; the verify role the read-only ones (see read_only_ecr_actions in main.tf).
locals {
  tmsync_ecr_actions = [
    "ecr:GetAuthorizationToken",
    "ecr:GetAccountSetting",
    "ecr:DescribeRepositories",
    "ecr:CreateRepository",
    "ecr:TagResource",
    "ecr:UntagResource",
    "ecr:ListTagsForResource",
    "ecr:PutImageScanningConfiguration",
    "ecr:PutImageTagMutability",
    "ecr:SetRepositoryPolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:PutLifecyclePolicy",
    "ecr:GetLifecyclePolicy",
    "ecr:BatchGetImage",
    "ecr:DescribeImageScanFindings",
    "ecr:StartImageScan",
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:GetDownloadUrlForLayer",
  ]
}
