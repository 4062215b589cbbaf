package faultproxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/tmsync/tmsync/internal/faultproxy"
)

// The same seed gives the Nth attempt of a request the same fate in every run, whatever
// else happens at the same time: with seed 5, attempts 1, 4 and 5 of this manifest GET
// fail, always. Faults lists them with their attempt numbers, to replay a failing run.
func ExampleNew() {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer target.Close()
	u, _ := url.Parse(target.URL)
	p, err := faultproxy.New(u, faultproxy.Config{Seed: 5, ErrorRate: 0.5})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	for range 6 {
		res, err := http.Get(p.URL + "/v2/vault/core/manifests/1.0")
		if err != nil {
			panic(err)
		}
		res.Body.Close()
		fmt.Print(res.StatusCode, ";")
	}
	fmt.Println()
	for _, f := range p.Faults() {
		fmt.Println(f.Attempt, f.Key, f.Status)
	}
	// Output:
	// 429;200;200;500;502;200;
	// 1 GET /v2/vault/core/manifests/1.0 429
	// 4 GET /v2/vault/core/manifests/1.0 500
	// 5 GET /v2/vault/core/manifests/1.0 502
}
