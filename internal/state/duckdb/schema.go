package duckdb

// migrations[i] brings the schema from version i to version i+1. Append to
// the list, never edit an entry that has shipped. The statements stay within
// SQL that PostgreSQL also accepts, so that its store can share the schema.
var migrations = [][]string{
	// 1: projects and issues.
	{
		`CREATE SEQUENCE project_ids START 1`,
		`CREATE TABLE projects (
			id         BIGINT PRIMARY KEY,
			slug       VARCHAR NOT NULL UNIQUE,
			name       VARCHAR NOT NULL,
			public_key VARCHAR NOT NULL UNIQUE,
			created_at TIMESTAMP NOT NULL
		)`,
		`CREATE SEQUENCE issue_ids START 1`,
		`CREATE TABLE issues (
			id               BIGINT PRIMARY KEY,
			project_id       BIGINT NOT NULL,
			grouping_version VARCHAR NOT NULL,
			type             VARCHAR NOT NULL,
			title            VARCHAR NOT NULL,
			culprit          VARCHAR NOT NULL,
			level            VARCHAR NOT NULL,
			platform         VARCHAR NOT NULL,
			service          VARCHAR NOT NULL,
			first_seen       TIMESTAMP,
			last_seen        TIMESTAMP,
			times_seen       BIGINT NOT NULL,
			status           VARCHAR NOT NULL,
			substatus        VARCHAR NOT NULL,
			status_changed   TIMESTAMP,
			resolved_at      TIMESTAMP,
			regressed_at     TIMESTAMP
		)`,
		`CREATE TABLE issue_hashes (
			project_id       BIGINT NOT NULL,
			hash             VARCHAR NOT NULL,
			issue_id         BIGINT NOT NULL,
			grouping_version VARCHAR NOT NULL,
			created_at       TIMESTAMP NOT NULL,
			PRIMARY KEY (project_id, hash)
		)`,
		// DuckDB does not use the primary key for project_id = ? AND
		// hash IN (...): lookups go by hash alone and check the project
		// afterwards.
		`CREATE INDEX issue_hashes_hash ON issue_hashes (hash)`,
		`CREATE INDEX issue_hashes_issue ON issue_hashes (issue_id)`,
	},
	// config: the configuration document set through the API, one row.
	{
		`CREATE TABLE config_document (
			id         INTEGER PRIMARY KEY,
			doc        VARCHAR NOT NULL,
			updated_at TIMESTAMP NOT NULL
		)`,
	},
	// uptime: the results of uptime checks.
	{
		`CREATE TABLE check_results (
			check_name  VARCHAR NOT NULL,
			checked_at  TIMESTAMP NOT NULL,
			ok          BOOLEAN NOT NULL,
			duration_us BIGINT NOT NULL,
			source      VARCHAR NOT NULL,
			status      INTEGER NOT NULL,
			error       VARCHAR NOT NULL,
			conditions  VARCHAR NOT NULL,
			trace_id    VARCHAR NOT NULL,
			cert_expiry TIMESTAMP,
			attempts    INTEGER NOT NULL
		)`,
	},
	// alert evaluator: instance state and the history of transitions.
	{
		`CREATE TABLE alert_instances (
			rule         VARCHAR NOT NULL,
			fingerprint  VARCHAR NOT NULL,
			rule_hash    VARCHAR NOT NULL,
			labels       VARCHAR NOT NULL,
			state        VARCHAR NOT NULL,
			since        TIMESTAMP,
			active_at    TIMESTAMP,
			cleared_at   TIMESTAMP,
			fired_at     TIMESTAMP,
			resolved_at  TIMESTAMP,
			evaluated_at TIMESTAMP,
			value        DOUBLE NOT NULL,
			reason       VARCHAR NOT NULL,
			datapoints   VARCHAR NOT NULL,
			PRIMARY KEY (rule, fingerprint)
		)`,
		`CREATE SEQUENCE alert_history_ids START 1`,
		`CREATE TABLE alert_history (
			id          BIGINT PRIMARY KEY,
			rule        VARCHAR NOT NULL,
			fingerprint VARCHAR NOT NULL,
			labels      VARCHAR NOT NULL,
			from_state  VARCHAR NOT NULL,
			to_state    VARCHAR NOT NULL,
			changed_at  TIMESTAMP NOT NULL,
			value       DOUBLE NOT NULL,
			reason      VARCHAR NOT NULL
		)`,
		`CREATE INDEX alert_history_rule_at ON alert_history (rule, changed_at)`,
	},
	// notify: silences of the API, the notification log, the attempt log.
	{
		`CREATE TABLE silences (
			id         VARCHAR PRIMARY KEY,
			matchers   VARCHAR NOT NULL,
			starts_at  TIMESTAMP NOT NULL,
			ends_at    TIMESTAMP NOT NULL,
			created_by VARCHAR NOT NULL,
			comment    VARCHAR NOT NULL,
			created_at TIMESTAMP NOT NULL,
			updated_at TIMESTAMP NOT NULL
		)`,
		`CREATE TABLE notification_log (
			group_key VARCHAR NOT NULL,
			channel   VARCHAR NOT NULL,
			firing    VARCHAR NOT NULL,
			resolved  VARCHAR NOT NULL,
			sent_at   TIMESTAMP NOT NULL,
			PRIMARY KEY (group_key, channel)
		)`,
		`CREATE SEQUENCE notification_attempt_ids START 1`,
		`CREATE TABLE notification_attempts (
			id          BIGINT PRIMARY KEY,
			attempted_at TIMESTAMP NOT NULL,
			channel     VARCHAR NOT NULL,
			group_key   VARCHAR NOT NULL,
			status      VARCHAR NOT NULL,
			alerts      INTEGER NOT NULL,
			attempt     INTEGER NOT NULL,
			outcome     VARCHAR NOT NULL,
			http_status INTEGER NOT NULL,
			error       VARCHAR NOT NULL,
			duration_us BIGINT NOT NULL
		)`,
		`CREATE INDEX notification_attempts_at ON notification_attempts (attempted_at)`,
	},
	// auth: users, sessions, API tokens and the audit log.
	{
		`CREATE SEQUENCE user_ids START 1`,
		`CREATE TABLE users (
			id            BIGINT PRIMARY KEY,
			name          VARCHAR NOT NULL,
			name_key      VARCHAR NOT NULL UNIQUE,
			role          VARCHAR NOT NULL,
			password_hash VARCHAR NOT NULL,
			disabled      BOOLEAN NOT NULL,
			issuer        VARCHAR NOT NULL,
			subject       VARCHAR NOT NULL,
			email         VARCHAR NOT NULL,
			created_at    TIMESTAMP NOT NULL,
			updated_at    TIMESTAMP NOT NULL,
			last_login_at TIMESTAMP
		)`,
		`CREATE TABLE sessions (
			hash         VARCHAR PRIMARY KEY,
			user_id      BIGINT NOT NULL,
			csrf         VARCHAR NOT NULL,
			created_at   TIMESTAMP NOT NULL,
			last_seen_at TIMESTAMP NOT NULL,
			expires_at   TIMESTAMP NOT NULL,
			ip           VARCHAR NOT NULL,
			user_agent   VARCHAR NOT NULL
		)`,
		`CREATE INDEX sessions_user ON sessions (user_id)`,
		`CREATE SEQUENCE api_token_ids START 1`,
		`CREATE TABLE api_tokens (
			id           BIGINT PRIMARY KEY,
			user_id      BIGINT NOT NULL,
			name         VARCHAR NOT NULL,
			role         VARCHAR NOT NULL,
			hash         VARCHAR NOT NULL UNIQUE,
			prefix       VARCHAR NOT NULL,
			created_at   TIMESTAMP NOT NULL,
			expires_at   TIMESTAMP,
			last_used_at TIMESTAMP,
			revoked_at   TIMESTAMP
		)`,
		`CREATE SEQUENCE audit_ids START 1`,
		`CREATE TABLE audit_log (
			id       BIGINT PRIMARY KEY,
			at_time  TIMESTAMP NOT NULL,
			actor_id BIGINT NOT NULL,
			actor    VARCHAR NOT NULL,
			action   VARCHAR NOT NULL,
			target   VARCHAR NOT NULL,
			detail   VARCHAR NOT NULL,
			ip       VARCHAR NOT NULL,
			outcome  VARCHAR NOT NULL
		)`,
		`CREATE INDEX audit_log_at ON audit_log (at_time)`,
	},
	// ingest keys: several per project; each project's public key becomes
	// its first.
	{
		`CREATE SEQUENCE ingest_key_ids START 1`,
		`CREATE TABLE ingest_keys (
			id         BIGINT PRIMARY KEY,
			project_id BIGINT NOT NULL,
			name       VARCHAR NOT NULL,
			key        VARCHAR NOT NULL UNIQUE,
			rate_limit DOUBLE NOT NULL,
			created_at TIMESTAMP NOT NULL,
			revoked_at TIMESTAMP
		)`,
		`INSERT INTO ingest_keys (id, project_id, name, key, rate_limit, created_at)
			SELECT nextval('ingest_key_ids'), id, 'default', public_key, 0, created_at FROM (SELECT * FROM projects ORDER BY id)`,
	},
}
