// Package fibpro is FibPro, Fibonacci-as-a-Service: the demo fleet that
// Telltale's kit makes observable, and that telltale demo runs.
//
// The fleet is three services and a traffic generator, each its own
// package with a Main(ctx, args) entry point:
//
//   - userstore: users, passwords and credit (stateful);
//   - pricing: the cost of fib(n), with a slow path and a buggy one;
//   - fibfrontend: GET /{n} with Basic auth, pricing and debiting;
//   - traffic: a realistic mix of good and bad requests.
//
// What the services share (sentinel errors, seed users, flags) is in
// package service. README.md says how to run the fleet by hand.
package fibpro

import (
	"context"

	"github.com/fibinc/telltale/examples/fibpro/fibfrontend"
	"github.com/fibinc/telltale/examples/fibpro/pricing"
	"github.com/fibinc/telltale/examples/fibpro/traffic"
	"github.com/fibinc/telltale/examples/fibpro/userstore"
)

// Services maps the name of each member of the fleet to its Main, which
// parses its flags from args and runs until ctx is done.
var Services = map[string]func(ctx context.Context, args []string) error{
	"userstore":   userstore.Main,
	"pricing":     pricing.Main,
	"fibfrontend": fibfrontend.Main,
	"traffic":     traffic.Main,
}

// StartOrder is the order the fleet starts in: each member after the
// ones it calls.
var StartOrder = []string{"userstore", "pricing", "fibfrontend", "traffic"}
