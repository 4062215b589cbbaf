package ecrtarget

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// fakeAPI is a recording fake of API. With no repo it answers as ECR does for a
// repository that does not exist; errs makes a call fail; hooks replace a call.
type fakeAPI struct {
	mu        sync.Mutex
	calls     []string
	repo      *types.Repository
	tags      []types.Tag
	policy    string
	lifecycle string
	errs      map[string]error
	batch     func(in *ecr.BatchGetImageInput) (*ecr.BatchGetImageOutput, error)
	scan      func(n int) (*ecr.DescribeImageScanFindingsOutput, error)
	startScan error // what StartImageScan returns; nil: it starts
	token     func() (*ecr.GetAuthorizationTokenOutput, error)
	scans     int
}

var mutatingOps = map[string]bool{
	"CreateRepository": true, "TagResource": true, "UntagResource": true, "SetRepositoryPolicy": true,
	"PutLifecyclePolicy": true, "PutImageScanningConfiguration": true, "PutImageTagMutability": true,
}

func (f *fakeAPI) record(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	return f.errs[op]
}

func (f *fakeAPI) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeAPI) mutating() []string {
	var m []string
	for _, c := range f.Calls() {
		if mutatingOps[c] {
			m = append(m, c)
		}
	}
	return m
}

func (f *fakeAPI) DescribeRepositories(_ context.Context, in *ecr.DescribeRepositoriesInput, _ ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	if err := f.record("DescribeRepositories"); err != nil {
		return nil, err
	}
	if f.repo == nil {
		return nil, &types.RepositoryNotFoundException{Message: aws.String("not found")}
	}
	return &ecr.DescribeRepositoriesOutput{Repositories: []types.Repository{*f.repo}}, nil
}

func (f *fakeAPI) CreateRepository(_ context.Context, in *ecr.CreateRepositoryInput, _ ...func(*ecr.Options)) (*ecr.CreateRepositoryOutput, error) {
	if err := f.record("CreateRepository"); err != nil {
		return nil, err
	}
	return &ecr.CreateRepositoryOutput{Repository: &types.Repository{RepositoryName: in.RepositoryName, RepositoryUri: aws.String("fake/" + aws.ToString(in.RepositoryName))}}, nil
}

func (f *fakeAPI) ListTagsForResource(context.Context, *ecr.ListTagsForResourceInput, ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error) {
	if err := f.record("ListTagsForResource"); err != nil {
		return nil, err
	}
	return &ecr.ListTagsForResourceOutput{Tags: f.tags}, nil
}

func (f *fakeAPI) TagResource(context.Context, *ecr.TagResourceInput, ...func(*ecr.Options)) (*ecr.TagResourceOutput, error) {
	return &ecr.TagResourceOutput{}, f.record("TagResource")
}

func (f *fakeAPI) UntagResource(context.Context, *ecr.UntagResourceInput, ...func(*ecr.Options)) (*ecr.UntagResourceOutput, error) {
	return &ecr.UntagResourceOutput{}, f.record("UntagResource")
}

func (f *fakeAPI) GetRepositoryPolicy(context.Context, *ecr.GetRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error) {
	if err := f.record("GetRepositoryPolicy"); err != nil {
		return nil, err
	}
	if f.policy == "" {
		return nil, &types.RepositoryPolicyNotFoundException{Message: aws.String("none")}
	}
	return &ecr.GetRepositoryPolicyOutput{PolicyText: aws.String(f.policy)}, nil
}

func (f *fakeAPI) SetRepositoryPolicy(context.Context, *ecr.SetRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error) {
	return &ecr.SetRepositoryPolicyOutput{}, f.record("SetRepositoryPolicy")
}

func (f *fakeAPI) GetLifecyclePolicy(context.Context, *ecr.GetLifecyclePolicyInput, ...func(*ecr.Options)) (*ecr.GetLifecyclePolicyOutput, error) {
	if err := f.record("GetLifecyclePolicy"); err != nil {
		return nil, err
	}
	if f.lifecycle == "" {
		return nil, &types.LifecyclePolicyNotFoundException{Message: aws.String("none")}
	}
	return &ecr.GetLifecyclePolicyOutput{LifecyclePolicyText: aws.String(f.lifecycle)}, nil
}

func (f *fakeAPI) PutLifecyclePolicy(context.Context, *ecr.PutLifecyclePolicyInput, ...func(*ecr.Options)) (*ecr.PutLifecyclePolicyOutput, error) {
	return &ecr.PutLifecyclePolicyOutput{}, f.record("PutLifecyclePolicy")
}

func (f *fakeAPI) PutImageScanningConfiguration(context.Context, *ecr.PutImageScanningConfigurationInput, ...func(*ecr.Options)) (*ecr.PutImageScanningConfigurationOutput, error) {
	return &ecr.PutImageScanningConfigurationOutput{}, f.record("PutImageScanningConfiguration")
}

func (f *fakeAPI) PutImageTagMutability(context.Context, *ecr.PutImageTagMutabilityInput, ...func(*ecr.Options)) (*ecr.PutImageTagMutabilityOutput, error) {
	return &ecr.PutImageTagMutabilityOutput{}, f.record("PutImageTagMutability")
}

func (f *fakeAPI) BatchGetImage(_ context.Context, in *ecr.BatchGetImageInput, _ ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error) {
	if err := f.record("BatchGetImage"); err != nil {
		return nil, err
	}
	if f.batch != nil {
		return f.batch(in)
	}
	return &ecr.BatchGetImageOutput{}, nil
}

func (f *fakeAPI) GetAuthorizationToken(context.Context, *ecr.GetAuthorizationTokenInput, ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error) {
	if err := f.record("GetAuthorizationToken"); err != nil {
		return nil, err
	}
	if f.token != nil {
		return f.token()
	}
	return &ecr.GetAuthorizationTokenOutput{}, nil
}

func (f *fakeAPI) DescribeImageScanFindings(context.Context, *ecr.DescribeImageScanFindingsInput, ...func(*ecr.Options)) (*ecr.DescribeImageScanFindingsOutput, error) {
	if err := f.record("DescribeImageScanFindings"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.scans++
	n := f.scans
	f.mu.Unlock()
	if f.scan != nil {
		return f.scan(n)
	}
	return nil, &types.ScanNotFoundException{Message: aws.String("no scan")}
}

func (f *fakeAPI) StartImageScan(context.Context, *ecr.StartImageScanInput, ...func(*ecr.Options)) (*ecr.StartImageScanOutput, error) {
	if err := f.record("StartImageScan"); err != nil {
		return nil, err
	}
	if f.startScan != nil {
		return nil, f.startScan
	}
	return &ecr.StartImageScanOutput{}, nil
}

func (f *fakeAPI) GetAccountSetting(_ context.Context, in *ecr.GetAccountSettingInput, _ ...func(*ecr.Options)) (*ecr.GetAccountSettingOutput, error) {
	if err := f.record("GetAccountSetting"); err != nil {
		return nil, err
	}
	return &ecr.GetAccountSettingOutput{Name: in.Name, Value: aws.String("DISABLED")}, nil
}
