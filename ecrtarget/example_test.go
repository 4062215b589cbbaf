package ecrtarget_test

import (
	"fmt"

	"github.com/tmsync/tmsync/ecrtarget"
)

func ExampleRepositoryName() {
	name, err := ecrtarget.RepositoryName("/3rdparty/tm/", "vault/xpl/xpl_payees")
	fmt.Println(name, err)
	_, err = ecrtarget.RepositoryName("/3rdparty/tm/", "Vault/X")
	fmt.Println(err)
	// Output:
	// 3rdparty/tm/vault/xpl/xpl_payees <nil>
	// invalid ECR repository name: "3rdparty/tm/Vault/X" (lower-case letters, digits and . _ - between path components)
}

func ExampleCrossAccountPullPolicy() {
	fmt.Println(ecrtarget.CrossAccountPullPolicy([]string{"222222222222", "111111111111"}))
	// Output:
	// {"Statement":[{"Action":["ecr:BatchCheckLayerAvailability","ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:root","arn:aws:iam::222222222222:root"]},"Sid":"CrossAccountPull"}],"Version":"2012-10-17"}
}

func ExampleIAMActions() {
	for _, a := range ecrtarget.IAMActions() {
		fmt.Println(a)
	}
	// Output:
	// ecr:BatchGetImage
	// ecr:CreateRepository
	// ecr:DescribeImageScanFindings
	// ecr:DescribeRepositories
	// ecr:GetAccountSetting
	// ecr:GetAuthorizationToken
	// ecr:GetLifecyclePolicy
	// ecr:GetRepositoryPolicy
	// ecr:ListTagsForResource
	// ecr:PutImageScanningConfiguration
	// ecr:PutImageTagMutability
	// ecr:PutLifecyclePolicy
	// ecr:SetRepositoryPolicy
	// ecr:StartImageScan
	// ecr:TagResource
	// ecr:UntagResource
}
