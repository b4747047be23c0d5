package main

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	_ "github.com/duckdb/duckdb-go/v2"
)

// tally is the comparison of one signal.
type tally struct {
	acked, stored, storedAcked int
	missing                    int // acknowledged, not stored
	dup                        int // stored more than once
	refusedStored              int // stored although the request was refused
	doubtStored                int // stored from requests without an answer
	unknown                    int // ids that match no request sent
	overAcked                  int // stored beyond what a partial success acknowledged
}

// partitions maps a signal to its table and the query that reads the ids
// of the driver's records.
var partitions = map[string]struct{ dir, query string }{
	"logs":    {"logs", "SELECT span_id FROM logs WHERE service_name = 'soak'"},
	"spans":   {"spans", "SELECT span_id FROM spans WHERE service_name = 'soak'"},
	"metrics": {"metrics", "SELECT value FROM metric_points WHERE name = '" + gaugeName + "'"},
	"errors":  {"errors", "SELECT event_id FROM error_events"},
}

func verify(args []string) (bool, error) {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	dataDir := fs.String("data-dir", "bench/out/soak/data", "the stopped server's data directory")
	out := fs.String("out", "bench/out/soak", "directory of requests.json")
	fs.Parse(args)

	b, err := os.ReadFile(filepath.Join(*out, "requests.json"))
	if err != nil {
		return false, err
	}
	var s sent
	if err := json.Unmarshal(b, &s); err != nil {
		return false, fmt.Errorf("cannot read requests.json: %w", err)
	}
	byNo := make(map[uint64]*request, len(s.Requests))
	seen := make(map[uint64][]uint64, len(s.Requests)) // request -> bitset of stored record indexes
	tallies := map[string]*tally{}
	for i := range s.Requests {
		r := &s.Requests[i]
		byNo[r.N] = r
		if tallies[r.Signal] == nil {
			tallies[r.Signal] = &tally{}
		}
		tallies[r.Signal].acked += r.Acked
	}
	stored := map[uint64]int{} // request -> records stored

	for _, sig := range []string{"logs", "spans", "metrics", "errors"} {
		if tallies[sig] == nil {
			tallies[sig] = &tally{}
		}
		t := tallies[sig]
		files, _ := filepath.Glob(filepath.Join(*dataDir, partitions[sig].dir, "*.duckdb"))
		for _, f := range files {
			err := scanIDs(f, partitions[sig].query, sig, s.Prefix, func(id uint64, ok bool) {
				t.stored++
				r := byNo[id>>idShift]
				idx := id & (1<<idShift - 1)
				if !ok || r == nil || r.Signal != sig || int(idx) >= r.Count {
					t.unknown++
					return
				}
				bits := seen[r.N]
				if bits == nil {
					bits = make([]uint64, (r.Count+63)/64)
					seen[r.N] = bits
				}
				if bits[idx/64]&(1<<(idx%64)) != 0 {
					t.dup++
					return
				}
				bits[idx/64] |= 1 << (idx % 64)
				stored[r.N]++
			})
			if err != nil {
				return false, err
			}
		}
	}
	for _, r := range s.Requests {
		t, n := tallies[r.Signal], stored[r.N]
		switch {
		case r.Doubt:
			t.doubtStored += n
		case r.Acked > 0 || r.Status == 200 || r.Status == 202:
			t.storedAcked += min(n, r.Acked)
			if n < r.Acked {
				t.missing += r.Acked - n
			} else if n > r.Acked {
				t.overAcked += n - r.Acked
			}
		default:
			t.refusedStored += n
		}
	}
	statsdStored, err := statsdSum(*dataDir)
	if err != nil {
		return false, err
	}
	return report(os.Stdout, tallies, s.StatsDLines, statsdStored), nil
}

// scanIDs reads the ids of the driver's records in one partition file.
// ok is false for a value that is not an id of this run.
func scanIDs(file, query, sig string, prefix uint64, fn func(id uint64, ok bool)) error {
	db, err := sql.Open("duckdb", file+"?access_mode=READ_ONLY")
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", file, err)
	}
	defer db.Close()
	rows, err := db.Query(query)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", file, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uint64
		ok := true
		switch sig {
		case "metrics":
			var v float64
			if err := rows.Scan(&v); err != nil {
				return err
			}
			id, ok = uint64(v), v >= 0 && v == math.Trunc(v)
		case "errors":
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			v = strings.ReplaceAll(v, "-", "")
			p, err1 := strconv.ParseUint(v[:min(16, len(v))], 16, 64)
			n, err2 := strconv.ParseUint(v[min(16, len(v)):], 16, 64)
			id, ok = n, err1 == nil && err2 == nil && p == prefix
		default:
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			raw, err := hex.DecodeString(v)
			ok = err == nil && len(raw) == 8
			for _, c := range raw {
				id = id<<8 | uint64(c)
			}
		}
		fn(id, ok)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cannot read %s: %w", file, err)
	}
	return nil
}

// statsdSum is the sum of the StatsD counter the driver incremented.
func statsdSum(dataDir string) (float64, error) {
	files, _ := filepath.Glob(filepath.Join(dataDir, "metrics", "*.duckdb"))
	var sum float64
	for _, f := range files {
		db, err := sql.Open("duckdb", f+"?access_mode=READ_ONLY")
		if err != nil {
			return 0, fmt.Errorf("cannot open %s: %w", f, err)
		}
		var v sql.NullFloat64
		err = db.QueryRow("SELECT sum(value) FROM metric_points WHERE name = '" + statsdName + "'").Scan(&v)
		db.Close()
		if err != nil {
			return 0, fmt.Errorf("cannot read %s: %w", f, err)
		}
		sum += v.Float64
	}
	return sum, nil
}

// report prints the comparison and returns whether it passes: every
// acknowledged record stored once, nothing else stored but records of
// requests without an answer.
func report(w io.Writer, tallies map[string]*tally, statsdSent int64, statsdStored float64) bool {
	ok := true
	fmt.Fprintln(w, "| signal | acknowledged | stored | missing | duplicates | stored but refused | stored, in doubt | unknown ids | result |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, sig := range []string{"logs", "spans", "metrics", "errors"} {
		t := tallies[sig]
		good := t.missing == 0 && t.dup == 0 && t.refusedStored == 0 && t.unknown == 0 && t.overAcked == 0 && t.storedAcked == t.acked
		verdict := "ok"
		if !good {
			verdict, ok = "FAIL", false
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %d | %s |\n", sig, t.acked, t.stored, t.missing, t.dup,
			t.refusedStored+t.overAcked, t.doubtStored, t.unknown, verdict)
	}
	verdict := "ok (UDP: loss allowed)"
	if statsdStored > float64(statsdSent) {
		verdict, ok = "FAIL: more stored than sent", false
	}
	fmt.Fprintf(w, "| statsd lines | %d sent | %.0f | %.0f lost in UDP | | | | | %s |\n", statsdSent, statsdStored, float64(statsdSent)-statsdStored, verdict)
	return ok
}
