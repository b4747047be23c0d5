package ingestkey

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/metadata"
)

// FromHeader returns the key a request carries in h: the token of
// "Authorization: Bearer <key>", or with Options.Header set, that header's
// whole value. "" when there is none.
func (k *Keys) FromHeader(h http.Header) string {
	if k.opt.Header == "" {
		return ParseBearer(h.Get("Authorization"))
	}
	return strings.TrimSpace(h.Get(k.opt.Header))
}

// FromMetadata is FromHeader for gRPC: the metadata key is the header name
// in lower case.
func (k *Keys) FromMetadata(md metadata.MD) string {
	name := "authorization"
	if k.opt.Header != "" {
		name = strings.ToLower(k.opt.Header)
	}
	vs := md.Get(name)
	if len(vs) == 0 {
		return ""
	}
	if k.opt.Header == "" {
		return ParseBearer(vs[0])
	}
	return strings.TrimSpace(vs[0])
}

// HeaderName is the header a client sets, for messages and snippets.
func (k *Keys) HeaderName() string {
	if k.opt.Header == "" {
		return "Authorization"
	}
	return k.opt.Header
}

// HeaderValue is the value a client sends for key.
func (k *Keys) HeaderValue(key string) string {
	if k.opt.Header == "" {
		return "Bearer " + key
	}
	return key
}

// CheckHeaderName reports whether name can carry keys over HTTP and gRPC:
// an HTTP token, not one that gRPC or HTTP/2 reserve.
func CheckHeaderName(name string) error {
	if name == "" {
		return fmt.Errorf("invalid ingest key header: empty")
	}
	if len(name) > 100 {
		return fmt.Errorf("invalid ingest key header: longer than 100 bytes")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return fmt.Errorf("invalid ingest key header %q: %q is not allowed in a header name", name, c)
		}
	}
	lower := strings.ToLower(name)
	switch {
	case strings.HasPrefix(lower, "grpc-"):
		return fmt.Errorf("invalid ingest key header %q: gRPC reserves grpc-* names", name)
	case lower == "content-type", lower == "te", lower == "user-agent", lower == "host", lower == "connection",
		lower == "content-length", lower == "content-encoding", lower == "transfer-encoding", lower == "x-sentry-auth":
		return fmt.Errorf("invalid ingest key header %q: it has another meaning", name)
	}
	return nil
}

type ctxKey struct{}

// WithKey returns ctx carrying the key a request was authenticated with,
// so that the pipeline can tell whose records it handles.
func WithKey(ctx context.Context, key *Key) context.Context {
	if key == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, key)
}

// FromContext returns the key of WithKey.
func FromContext(ctx context.Context) (*Key, bool) {
	key, ok := ctx.Value(ctxKey{}).(*Key)
	return key, ok
}

// ProjectID is the project of the key in ctx, or 0 when there is none
// (checks off and no key).
func ProjectID(ctx context.Context) int64 {
	if key, ok := FromContext(ctx); ok {
		return key.Project.ID
	}
	return 0
}
