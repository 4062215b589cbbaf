// Package datapathtest measures tmsync's data path (issue 15) on the test bed: a
// synthetic release whose images share base layers (SharedBaseRelease), the distinct
// bytes it holds (Distinct), and, in its tests, the source egress and target uploads of
// a sync into the ECR stand-in with BLOB_MOUNTING off and on, as multiples of the
// distinct bytes, and the failure rate of seeded runs against a flaky vendor.
//
// The measurement (TestBaseline) takes about five minutes, so it runs only when
// TMSYNC_BASELINE=1 is set:
//
//	TMSYNC_BASELINE=1 TMSYNC_INTEGRATION=require make test PKGS=./internal/datapathtest/ TESTFLAGS='-v -run Baseline'
//
// The package is for tests and measurements only; it is not part of the tool.
package datapathtest
