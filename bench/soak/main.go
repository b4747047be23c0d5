// Command soak drives a Telltale server through a steady load, an overload
// and a recovery, and then checks that every record the server
// acknowledged is stored, exactly once. See bench/soak.sh.
//
//	soak run -duration 3m -pid 1234 -http 127.0.0.1:5618 -ui 127.0.0.1:5620 -statsd 127.0.0.1:5625 -out bench/out/soak
//	soak verify -data-dir bench/out/soak/data -out bench/out/soak
//
// run sends OTLP/HTTP logs, spans and metric points, Sentry envelopes and
// StatsD lines. Every record carries a unique id (a log's or span's span_id,
// a metric point's value, an event's event_id), made of the request's
// number and the record's index in it. A record counts as acknowledged only
// when its request is answered 200 (minus the rejected_* count of an OTLP
// partial success); 429 and 503 are refusals; a request without an answer
// (transport error) is in doubt. run samples the server's resident memory
// (VmRSS, VmHWM of /proc/PID/status) every second into rss.csv, prints a
// table per phase, and writes what it sent to requests.json.
//
// verify runs once the server has stopped: it opens the partition files of
// the data directory and reads the ids of the stored records, then compares
// them with requests.json per request. It exits 1 when an acknowledged
// record is missing, a record is stored twice, a refused request left
// records, or the stored count of a request differs from what was
// acknowledged. Records of in-doubt requests are reported, not failed.
//
// Credentials: the API may need a token (-token, or -admin-user and
// -admin-password to log in and create one), and the ingest endpoints a key
// (-key; by default the public key of the first project from
// GET /api/v1/projects, sent as "Authorization: Bearer <key>" to OTLP and as
// the sentry_key to Sentry). A server that checks neither ignores both.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "verify":
		var ok bool
		ok, err = verify(os.Args[2:])
		if err == nil && !ok {
			os.Exit(1)
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: soak run [flags] | soak verify [flags]; see bench/soak.sh")
	os.Exit(2)
}
