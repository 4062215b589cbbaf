// Package infra holds the Terraform of the sync pipeline (the root module here, modules/,
// and test/moto/, a test-only root for moto_server) and its tests (infra_test.go): fmt,
// init and validate of every module, tflint when installed, and an apply against
// moto_server followed by a plan that must be empty. See README.md.
package infra
