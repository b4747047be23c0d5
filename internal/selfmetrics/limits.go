package selfmetrics

// Limits holds the metrics of the record size limits, the memory budget and
// the query guardrails (docs/design/security.md, "Limits").
type Limits struct {
	// Truncated counts what the pipeline cut from records: attributes
	// dropped, keys, values and bodies cut.
	Truncated *CounterVec // telltale_ingest_truncated_total{signal,what}
	// AdmissionRejected counts ingest requests refused because the bytes
	// of requests in flight were at the budget.
	AdmissionRejected *CounterVec // telltale_ingest_admission_rejected_total{listener}
	// QueriesRejected counts query requests refused: no slot within the
	// wait (concurrency) or past their deadline (timeout).
	QueriesRejected *CounterVec // telltale_queries_rejected_total{reason}
}

// LimitGauges read the current state of the limits; nil ones are not
// registered.
type LimitGauges struct {
	QueriesInFlight func() float64 // telltale_queries_in_flight
	IngestBytes     func() float64 // telltale_ingest_inflight_bytes
	QueueBytes      func() float64 // telltale_queue_bytes
}

// NewLimits registers the limits' metrics in r.
func NewLimits(r *Registry, g LimitGauges) *Limits {
	if g.QueriesInFlight != nil {
		r.NewGaugeFunc("telltale_queries_in_flight", "Query requests (API and pages) being served.", g.QueriesInFlight)
	}
	if g.IngestBytes != nil {
		r.NewGaugeFunc("telltale_ingest_inflight_bytes", "Bytes reserved by the ingest requests in flight, against the memory budget.", g.IngestBytes)
	}
	if g.QueueBytes != nil {
		r.NewGaugeFunc("telltale_queue_bytes", "Estimated bytes of the records waiting for a commit, all signals.", g.QueueBytes)
	}
	return &Limits{
		Truncated:         r.NewCounter("telltale_ingest_truncated_total", "Parts of records cut to the size limits: attributes dropped, keys, values and bodies cut.", "signal", "what"),
		AdmissionRejected: r.NewCounter("telltale_ingest_admission_rejected_total", "Ingest requests refused because the requests in flight were at the memory budget.", "listener"),
		QueriesRejected:   r.NewCounter("telltale_queries_rejected_total", "Query requests refused: no slot in time (concurrency) or past the deadline (timeout).", "reason"),
	}
}
