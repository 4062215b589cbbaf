// Package faultproxy is a fault-injecting HTTP reverse proxy for tests. It listens on
// 127.0.0.1, forwards to one target (a registry of internal/testbed, or any HTTP
// server), and on a seeded share of requests injects what a registry across the internet
// does to a long sync:
//
//   - an error instead of forwarding (500, 502, 503 or 429 by default, Retry-After on 429
//     and 503, a registry-style JSON error body);
//   - a blob download cut mid-way: status, headers and part of the body are sent, then the
//     connection is closed, so the client sees an unexpected EOF;
//   - a connection reset (TCP RST) instead of any answer;
//   - a stall: a blob download stops sending for Config.Stall after part of its body,
//     any other request before its status line, then goes on (idle-timeout tests);
//   - latency added to responses.
//
// It also counts what it forwards: response body bytes, and blob downloads by repository
// and digest (Stats.Blobs), so that a test can compare the source egress of a sync with
// the distinct bytes of the release. internal/testbed.StartVendor puts one in front of a
// vendor registry.
//
// # Replay
//
// By default (Config.Sequential false) every decision is keyed: the fate of a request is
// a function of (Seed, method, normalised path, attempt number), where the attempt number
// counts earlier requests with the same method and path. The Nth attempt of a given
// request therefore meets the same fate in every run, whatever order concurrent requests
// arrive in. The path is normalised so that run-specific parts do not change the key:
// the upload id of /v2/<name>/blobs/uploads/<id> is replaced by "*", and the query is
// dropped except for "digest" (which names content). Proxy.Faults lists what was
// injected, with the attempt numbers, so a failing run can be read and replayed with the
// same Seed.
//
// With Config.Sequential true, decisions are drawn in arrival order from one math/rand
// source seeded with Seed (behind a mutex): the same sequence of requests gets the same
// sequence of fates, but concurrent clients make the arrival order, and so the run,
// vary. MaxFaults is a global count in both modes, so with concurrency it too depends on
// arrival order.
//
// Authorization and all other end-to-end headers pass through untouched, and Host is
// kept, so Location headers built by the registry point back through the proxy. The
// proxy logs nothing.
//
// The package owns fault injection for tests only; it is not part of the tool and knows
// nothing of tmsync, containers/image or AWS.
package faultproxy
