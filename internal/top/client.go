package top

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Service is one service as GET /api/v1/services describes it, with the
// fields that top shows.
type Service struct {
	Name          string     `json:"name"`
	RequestSpans  string     `json:"request_spans"`
	Requests      int64      `json:"requests"`
	RequestErrors int64      `json:"request_errors"`
	RequestRate   float64    `json:"request_rate"`
	ErrorRate     float64    `json:"error_rate"`
	Latency       *Latency   `json:"latency_ms"`
	Instances     []Instance `json:"instances"`
}

// Latency holds request duration percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Instance is one running copy of a service.
type Instance struct {
	ID          string    `json:"id"`
	Host        string    `json:"host"`
	Environment string    `json:"environment"`
	Version     string    `json:"version"`
	LastSeen    time.Time `json:"last_seen"`
}

// maxAnswer bounds the answer read from the server. The API lists at most
// 10,000 instances, a few MB; anything far larger is not a services answer.
const maxAnswer = 64 << 20

// Client reads the services of a Telltale server. The zero value is not
// usable: Server is required.
type Client struct {
	// Server is the base URL of the API, e.g. http://localhost:4320.
	Server string
	// HTTP is the client requests go through. Default http.DefaultClient.
	HTTP *http.Client
	// Token is an API token (tt_...), sent as Authorization: Bearer;
	// empty sends none.
	Token string
}

// Services returns the services seen in [from, to), sorted as the server
// sorts them (by name).
func (c *Client) Services(ctx context.Context, from, to time.Time) ([]Service, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	q := url.Values{"from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	u := strings.TrimRight(c.Server, "/") + "/api/v1/services?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("invalid server address %q: %w", c.Server, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The url.Error repeats the whole query URL; its cause is the
		// readable part.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach the server at %s: %w", c.Server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("cannot read the answer of %s: %w", c.Server, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if c.Token == "" {
			return nil, fmt.Errorf("the server at %s needs an API token: create one under Settings, API tokens, and pass it with --token or TELLTALE_TOKEN", c.Server)
		}
		return nil, fmt.Errorf("the server at %s refused the API token: it is wrong, expired or revoked", c.Server)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("the server at %s answered %s: %s", c.Server, resp.Status, e.Error)
		}
		return nil, fmt.Errorf("the server at %s answered %s; is it a Telltale server?", c.Server, resp.Status)
	}
	svcs, err := DecodeServices(body)
	if err != nil {
		return nil, fmt.Errorf("the server at %s: %w", c.Server, err)
	}
	return svcs, nil
}

// DecodeServices decodes the body of a 200 answer of GET /api/v1/services.
func DecodeServices(body []byte) ([]Service, error) {
	var r struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("cannot decode the services answer: %w", err)
	}
	if len(r.Data) == 0 {
		return nil, errors.New("cannot decode the services answer: no data field")
	}
	var svcs []Service
	if err := json.Unmarshal(r.Data, &svcs); err != nil {
		return nil, fmt.Errorf("cannot decode the services answer: %w", err)
	}
	return svcs, nil
}
