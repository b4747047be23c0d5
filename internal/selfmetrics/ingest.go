package selfmetrics

// Source label values of the ingest listeners.
const (
	SourceOTLPGRPC = "otlp_grpc"
	SourceOTLPHTTP = "otlp_http"
	SourceSentry   = "sentry"
	SourceJSON     = "json"
	SourceStatsD   = "statsd"
)

// Ingest holds the metrics that every ingest listener updates.
type Ingest struct {
	// Records counts records committed, by signal and source.
	Records *CounterVec // telltale_ingest_records_total{signal,source}
	// Rejected counts records refused as invalid, by signal and reason.
	Rejected *CounterVec // telltale_ingest_rejected_total{signal,reason}
	// Requests counts requests by source, signal and response code (an HTTP
	// status or a gRPC code name).
	Requests *CounterVec // telltale_ingest_requests_total{source,signal,code}
}

// NewIngest registers the ingest metrics in r.
func NewIngest(r *Registry) *Ingest {
	return &Ingest{
		Records:  r.NewCounter("telltale_ingest_records_total", "Records committed to the store.", "signal", "source"),
		Rejected: r.NewCounter("telltale_ingest_rejected_total", "Records rejected as invalid.", "signal", "reason"),
		Requests: r.NewCounter("telltale_ingest_requests_total", "Ingest requests answered, by response code.", "source", "signal", "code"),
	}
}

// CountRequest counts one answered request of a listener: its code, the records
// it committed and those it rejected, by reason.
func (m *Ingest) CountRequest(source, signal, code string, committed int, rejected map[string]int) {
	m.Requests.With(source, signal, code).Inc()
	if committed > 0 {
		m.Records.With(signal, source).Add(uint64(committed))
	}
	for reason, n := range rejected {
		if n > 0 {
			m.Rejected.With(signal, reason).Add(uint64(n))
		}
	}
}
