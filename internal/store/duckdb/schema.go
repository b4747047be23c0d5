package duckdb

import (
	"fmt"

	"github.com/fibinc/telltale/internal/telemetry"
)

// resourceColumns are stored on every record; see docs/design/storage.md.
//
// Attribute columns hold JSON text in VARCHAR columns rather than the JSON
// type: duckdb-go v2.5 appends JSON columns with trailing garbage that makes
// json_extract return NULL, and the JSON functions accept VARCHAR anyway.
const resourceColumns = `
	service_name           VARCHAR NOT NULL,
	service_version        VARCHAR NOT NULL,
	service_instance_id    VARCHAR NOT NULL,
	deployment_environment VARCHAR NOT NULL,
	host_name              VARCHAR NOT NULL,
	availability_zone      VARCHAR NOT NULL,
	resource_attributes    VARCHAR NOT NULL,
	scope_name             VARCHAR NOT NULL,
	scope_version          VARCHAR NOT NULL`

// tableDDL is the CREATE TABLE body of each signal's table. The column order
// is the order in which the append* functions write rows.
var tableDDL = map[telemetry.Signal]string{
	telemetry.SignalSpans: `(
	timestamp      TIMESTAMP NOT NULL,
	duration_ns    BIGINT    NOT NULL,
	trace_id       VARCHAR   NOT NULL,
	span_id        VARCHAR   NOT NULL,
	parent_span_id VARCHAR   NOT NULL,
	trace_state    VARCHAR   NOT NULL,
	name           VARCHAR   NOT NULL,
	kind           VARCHAR   NOT NULL,
	status_code    VARCHAR   NOT NULL,
	status_message VARCHAR   NOT NULL,
	request_id     VARCHAR   NOT NULL,` + resourceColumns + `,
	attributes     VARCHAR   NOT NULL,
	events         VARCHAR   NOT NULL,
	links          VARCHAR   NOT NULL
)`,
	telemetry.SignalLogs: `(
	timestamp          TIMESTAMP NOT NULL,
	observed_timestamp TIMESTAMP NOT NULL,
	trace_id           VARCHAR   NOT NULL,
	span_id            VARCHAR   NOT NULL,
	severity_number    INTEGER   NOT NULL,
	severity_text      VARCHAR   NOT NULL,
	body               VARCHAR   NOT NULL,
	request_id         VARCHAR   NOT NULL,` + resourceColumns + `,
	attributes         VARCHAR   NOT NULL,
	event_name         VARCHAR   NOT NULL,
	source             VARCHAR   NOT NULL
)`,
	telemetry.SignalMetrics: `(
	timestamp           TIMESTAMP NOT NULL,
	start_timestamp     TIMESTAMP,
	name                VARCHAR   NOT NULL,
	description         VARCHAR   NOT NULL,
	unit                VARCHAR   NOT NULL,
	type                VARCHAR   NOT NULL,
	temporality         VARCHAR   NOT NULL,
	monotonic           BOOLEAN   NOT NULL,
	series_id           UBIGINT   NOT NULL,` + resourceColumns + `,
	attributes          VARCHAR   NOT NULL,
	flags               UINTEGER  NOT NULL,
	value               DOUBLE,
	count               UBIGINT,
	sum                 DOUBLE,
	min                 DOUBLE,
	max                 DOUBLE,
	bucket_bounds       DOUBLE[],
	bucket_counts       UBIGINT[],
	exp_scale           INTEGER,
	exp_zero_count      UBIGINT,
	exp_positive_offset INTEGER,
	exp_positive_counts UBIGINT[],
	exp_negative_offset INTEGER,
	exp_negative_counts UBIGINT[],
	quantiles           DOUBLE[],
	quantile_values     DOUBLE[]
)`,
	telemetry.SignalErrors: `(
	timestamp          TIMESTAMP NOT NULL,
	received_timestamp TIMESTAMP NOT NULL,
	event_id           VARCHAR   NOT NULL,
	project_id         BIGINT    NOT NULL,
	issue_id           BIGINT    NOT NULL,
	grouping_version   VARCHAR   NOT NULL,
	grouping_hash      VARCHAR   NOT NULL,
	source             VARCHAR   NOT NULL,
	platform           VARCHAR   NOT NULL,
	level              VARCHAR   NOT NULL,
	logger             VARCHAR   NOT NULL,
	transaction        VARCHAR   NOT NULL,
	server_name        VARCHAR   NOT NULL,
	release            VARCHAR   NOT NULL,
	dist               VARCHAR   NOT NULL,
	browser            VARCHAR   NOT NULL,
	os                 VARCHAR   NOT NULL,
	url                VARCHAR   NOT NULL,
	user_key           VARCHAR   NOT NULL,
	title              VARCHAR   NOT NULL,
	culprit            VARCHAR   NOT NULL,
	message            VARCHAR   NOT NULL,
	exception_type     VARCHAR   NOT NULL,
	exception_value    VARCHAR   NOT NULL,
	trace_id           VARCHAR   NOT NULL,
	span_id            VARCHAR   NOT NULL,
	request_id         VARCHAR   NOT NULL,` + resourceColumns + `,
	tags               VARCHAR   NOT NULL,
	body               VARCHAR   NOT NULL,
	contexts           VARCHAR   NOT NULL,
	extra              VARCHAR   NOT NULL,
	grouping           VARCHAR   NOT NULL
)`,
}

// tableName is the name of a signal's table inside each partition and of the
// view over all partitions in the main database.
func tableName(s telemetry.Signal) string {
	switch s {
	case telemetry.SignalMetrics:
		return "metric_points"
	case telemetry.SignalErrors:
		return "error_events"
	default:
		return string(s)
	}
}

func createTableSQL(catalog string, s telemetry.Signal) string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.main.%s %s", catalog, tableName(s), tableDDL[s])
}
