package app

import "os"

// secretEnv are the environment variables that hold secrets tmsync reads. The command
// takes them out of its environment before anything can start a child process
// (containers/image runs the docker-credential-* helpers an auth.json names, which
// inherit the environment): a helper for an upstream registry must not see the vendor
// token or the AWS keys.
//
// The AWS SDK reads its static keys from the environment once, when the configuration is
// loaded (setup), so they are removed after that, by setup; TM_TOKEN is removed
// here, first thing.
var secretEnv = []string{"TM_TOKEN"}

// takeSecretEnv returns the vendor token from TM_TOKEN and removes every secret variable
// from the environment. The returned function puts them back: main exits without calling
// it; tests that call run several times in one process need it.
func takeSecretEnv() (token string, restore func()) {
	saved := map[string]string{}
	for _, k := range append(secretEnv, awsSecretEnv...) {
		if v, ok := os.LookupEnv(k); ok {
			saved[k] = v
		}
	}
	token = os.Getenv("TM_TOKEN")
	for _, k := range secretEnv {
		os.Unsetenv(k)
	}
	return token, func() {
		for k, v := range saved {
			os.Setenv(k, v)
		}
	}
}

// awsSecretEnv are removed by setup once the AWS configuration is loaded; they are
// saved here to be put back for the next run of a test.
var awsSecretEnv = []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}
