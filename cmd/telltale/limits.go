package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/fibinc/telltale/internal/app"
	"github.com/fibinc/telltale/internal/pipeline"
	"github.com/fibinc/telltale/internal/querylimit"
)

// limitFlags defines the flags of the size limits, the memory budget and
// the query guardrails (docs/design/security.md, "Limits"). The function it
// returns copies them into opt once fs is parsed. For each, 0 turns the
// limit off.
func limitFlags(fs *flag.FlagSet, opt *app.Options) func() error {
	budget := bytesize(app.DefaultMemoryBudget)
	fs.Var(&budget, "memory-budget", "memory Telltale aims to stay within: sets the Go soft memory limit (45%), the database's (35%, unless -memory-limit is given), "+
		"the ingest requests in flight (20%) and the queue (15%); over it ingest answers 503; 0 turns it off")
	maxAttrs := fs.Int("max-attributes", pipeline.DefaultMaxAttributes, "attributes kept per record (and per nested object); the rest are dropped and counted; 0 means no limit")
	keySize := bytesize(pipeline.DefaultMaxKeyBytes)
	fs.Var(&keySize, "max-attribute-key-size", "longest attribute key; longer ones are cut and marked; 0 means no limit")
	valueSize := bytesize(pipeline.DefaultMaxValueBytes)
	fs.Var(&valueSize, "max-attribute-value-size", "longest attribute value or other field; longer ones are cut and marked; 0 means no limit")
	bodySize := bytesize(pipeline.DefaultMaxBodyBytes)
	fs.Var(&bodySize, "max-message-size", "longest log body, error message or exception value; longer ones are cut and marked; 0 means no limit")
	fs.DurationVar(&opt.QueryTimeout, "query-timeout", querylimit.DefaultTimeout, "deadline of every API and page request; a query past it answers 503; 0 means none")
	maxRange := days(31 * 24 * time.Hour)
	fs.Var(&maxRange, "max-query-range", "longest time range of a query, e.g. 31d; longer ones answer 400")
	fs.IntVar(&opt.MaxQueryRows, "max-query-rows", 10_000, "most rows a query returns; API limit parameters above it answer 400")
	fs.IntVar(&opt.MaxConcurrentQueries, "max-concurrent-queries", querylimit.DefaultMaxConcurrent,
		"API and page requests served at once; others wait up to 5s, then answer 503; 0 means no cap")

	off := func(v int64) int64 {
		if v == 0 {
			return -1 // app and pipeline options: negative turns a limit off
		}
		return v
	}
	return func() error {
		if *maxAttrs < 0 || opt.MaxQueryRows <= 0 || opt.MaxConcurrentQueries < 0 || opt.QueryTimeout < 0 || maxRange <= 0 {
			return usageError{fmt.Errorf("invalid limit: -max-attributes, -max-concurrent-queries and -query-timeout want 0 or more, -max-query-rows and -max-query-range more than 0")}
		}
		opt.MemoryBudget = off(int64(budget))
		opt.Limits = pipeline.Limits{MaxAttributes: int(off(int64(*maxAttrs))), MaxKeyBytes: int(off(int64(keySize))),
			MaxValueBytes: int(off(int64(valueSize))), MaxBodyBytes: int(off(int64(bodySize)))}
		opt.QueryTimeout = time.Duration(off(int64(opt.QueryTimeout)))
		opt.MaxConcurrentQueries = int(off(int64(opt.MaxConcurrentQueries)))
		opt.MaxQueryRange = time.Duration(maxRange)
		return nil
	}
}
