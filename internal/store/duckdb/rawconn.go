package duckdb

import (
	"errors"
	"fmt"
	"sync"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// rawDB is a second handle on the DuckDB database that duckdb-go's connector
// opened, with a pool of C API connections for the chunk writer, which needs
// the raw connection that duckdb-go keeps unexported. duckdb-go opens file
// databases through its exported instance cache, and DuckDB's instance cache
// exists so that one process can hold several handles on one database: both
// handles share one instance, so partitions attached through database/sql
// are visible here, and settings made there (memory limit, threads,
// checkpoint threshold) apply here too.
type rawDB struct {
	db mapping.Database

	mu      sync.Mutex
	idle    []mapping.Connection
	maxIdle int
}

// openRawDB must run before the first connection of duckdb-go's connector:
// the cache refuses a handle whose configuration differs from the
// instance's, and the connector's SET statements change the instance's.
func openRawDB(path string, maxIdle int) (*rawDB, error) {
	var cfg mapping.Config
	if mapping.CreateConfig(&cfg) == mapping.StateError {
		return nil, errors.New("cannot create DuckDB configuration")
	}
	defer mapping.DestroyConfig(&cfg)
	// The configuration duckdb-go's NewConnector gives a DSN without options.
	if mapping.SetConfig(cfg, "duckdb_api", "go") == mapping.StateError {
		return nil, errors.New("cannot configure DuckDB handle")
	}
	var db mapping.Database
	var msg string
	if mapping.GetOrCreateFromCache(duckdb.GetInstanceCache(), path, &db, cfg, &msg) == mapping.StateError {
		mapping.Close(&db)
		return nil, fmt.Errorf("cannot open a second handle on %s: %s", path, msg)
	}
	return &rawDB{db: db, maxIdle: maxIdle}, nil
}

// get returns an idle connection or a new one. The caller owns it until put.
func (r *rawDB) get() (mapping.Connection, error) {
	r.mu.Lock()
	if n := len(r.idle); n > 0 {
		c := r.idle[n-1]
		r.idle = r.idle[:n-1]
		r.mu.Unlock()
		return c, nil
	}
	r.mu.Unlock()
	var c mapping.Connection
	if mapping.Connect(r.db, &c) == mapping.StateError {
		return c, errors.New("cannot connect to DuckDB")
	}
	return c, nil
}

// put returns a connection to the pool; a connection whose state is unknown
// (reuse false) or beyond the idle cap is closed.
func (r *rawDB) put(c mapping.Connection, reuse bool) {
	r.mu.Lock()
	keep := reuse && len(r.idle) < r.maxIdle
	if keep {
		r.idle = append(r.idle, c)
	}
	r.mu.Unlock()
	if !keep {
		mapping.Disconnect(&c)
	}
}

// close closes the idle connections and the handle; connections in use must
// have been put back. DuckDB shuts the instance down when its last handle
// closes.
func (r *rawDB) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.idle {
		mapping.Disconnect(&r.idle[i])
	}
	r.idle = nil
	mapping.Close(&r.db)
}
