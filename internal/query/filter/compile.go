package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fibinc/telltale/internal/query/dialect"
	"github.com/fibinc/telltale/internal/telemetry"
)

// Compile compiles e to a boolean SQL condition on the columns of the logs
// view. Every value from the query is passed in args, bound to the ? in
// where in order; column names come from a fixed table. where is
// self-contained: callers may AND it with other conditions without adding
// parentheses. A nil e, like an empty And, compiles to TRUE.
func Compile(e Expr, d dialect.Dialect) (where string, args []any, err error) {
	if e == nil {
		e = And{}
	}
	c := compiler{d: d}
	if err := e.compile(&c); err != nil {
		return "", nil, err
	}
	return c.sql.String(), c.args, nil
}

type compiler struct {
	d    dialect.Dialect
	sql  strings.Builder
	args []any
}

func (c *compiler) add(sql string, args ...any) {
	c.sql.WriteString(sql)
	c.args = append(c.args, args...)
}

func (x And) compile(c *compiler) error { return c.join(x, " AND ", "TRUE") }
func (x Or) compile(c *compiler) error  { return c.join(x, " OR ", "FALSE") }

func (c *compiler) join(xs []Expr, sep, empty string) error {
	switch len(xs) {
	case 0:
		c.add(empty)
		return nil
	case 1:
		return xs[0].compile(c)
	}
	c.add("(")
	for i, x := range xs {
		if i > 0 {
			c.add(sep)
		}
		if err := x.compile(c); err != nil {
			return err
		}
	}
	c.add(")")
	return nil
}

func (x Not) compile(c *compiler) error {
	c.add("NOT (")
	if err := x.X.compile(c); err != nil {
		return err
	}
	c.add(")")
	return nil
}

func (x Text) compile(c *compiler) error {
	c.add(c.d.ContainsFold("body", x.Value))
	return nil
}

func (x Term) compile(c *compiler) error {
	f, err := resolve(x)
	if err != nil {
		return fmt.Errorf("filter: cannot compile %s: %w", x, err)
	}
	if x.Op == Ne {
		x.Op = Eq
		return Not{x}.compile(c)
	}
	switch f.kind {
	case fieldText:
		c.add(c.d.ContainsFold(f.col, x.Value))
	case fieldLevel:
		switch x.Op {
		case Eq:
			c.add("(severity_number >= ? AND severity_number < ?)", f.lo, f.hi)
		case Lt:
			c.add("severity_number < ?", f.lo)
		case Le:
			c.add("severity_number < ?", f.hi)
		case Gt:
			c.add("severity_number >= ?", f.hi)
		case Ge:
			c.add("severity_number >= ?", f.lo)
		}
	case fieldColumn:
		c.compare(f.col, x, false)
	case fieldJSON:
		// A missing key makes the comparison NULL. Turning that into FALSE
		// keeps NOT and != matching records that lack the key.
		expr, path := c.d.JSONString(f.col, f.key)
		c.add("COALESCE(", path)
		c.compare(expr, x, true)
		c.add(", FALSE)")
	}
	return nil
}

// compare writes the comparison of the expression lhs with the value of t,
// whose Op is not Ne. Attributes are untyped JSON, so with numeric set an
// ordering against a number compares numerically: 9 < 10, not "9" > "10".
func (c *compiler) compare(lhs string, t Term, numeric bool) {
	if t.Prefix {
		c.add(lhs+` LIKE ? ESCAPE '\'`, likeEscaper.Replace(t.Value)+"%")
		return
	}
	op := string(t.Op)
	if t.Op == Eq {
		op = "="
	}
	if numeric && t.Op != Eq {
		if n, err := strconv.ParseFloat(t.Value, 64); err == nil && !math.IsInf(n, 0) && !math.IsNaN(n) {
			// TRY_CAST, unlike CAST, yields NULL for text that is no number.
			c.add("TRY_CAST("+lhs+" AS DOUBLE) "+op+" ?", n)
			return
		}
	}
	c.add(lhs+" "+op+" ?", t.Value)
}

// likeEscaper escapes the wildcards of a LIKE pattern for ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

type fieldKind int

const (
	fieldColumn fieldKind = iota // compared as a string column
	fieldText                    // searched for as a substring, ignoring case
	fieldLevel                   // severity_number, by level name or number
	fieldJSON                    // a key of a JSON object column
)

// field is what a Term's field refers to.
type field struct {
	kind   fieldKind
	col    string // fieldColumn, fieldText and fieldJSON
	key    string // fieldJSON: the key in col
	lo, hi int    // fieldLevel: the severity range [lo, hi) that the value names
}

// resolve finds the field of t and checks that t's operator and value suit it.
func resolve(t Term) (field, error) {
	f := lookup(t.Field)
	switch {
	case !validOp(t.Op):
		return f, fmt.Errorf("unknown operator %q", t.Op)
	case f.kind == fieldJSON && f.key == "":
		return f, fmt.Errorf("expected an attribute name after %q", t.Field)
	case t.Prefix && t.Op != Eq && t.Op != Ne:
		return f, fmt.Errorf("prefix match (*) needs %q or %q, not %q", Eq, Ne, t.Op)
	case f.kind == fieldText && t.Op != Eq && t.Op != Ne:
		return f, fmt.Errorf("operator %q does not apply to text field %q, only %q and %q", t.Op, t.Field, Eq, Ne)
	case f.kind == fieldLevel:
		if t.Prefix {
			return f, fmt.Errorf("prefix match (*) does not apply to %q", t.Field)
		}
		if n, err := strconv.Atoi(t.Value); err == nil {
			if n < 0 || n > 24 {
				return f, fmt.Errorf("severity %d out of range 0 to 24", n)
			}
			f.lo, f.hi = n, n+1
			return f, nil
		}
		sev, ok := telemetry.ParseLevel(t.Value)
		if !ok {
			return f, fmt.Errorf("unknown level %q (want trace, debug, info, warn, error or fatal)", t.Value)
		}
		// Each OpenTelemetry level spans four severity numbers.
		f.lo, f.hi = int(sev), int(sev)+4
	}
	return f, nil
}

func validOp(op Op) bool {
	switch op {
	case Eq, Ne, Lt, Le, Gt, Ge:
		return true
	}
	return false
}

// lookup maps a field name to the column that holds it. Besides the short
// names, the columns' own names and the OpenTelemetry attribute names of the
// promoted resource attributes are accepted.
func lookup(name string) field {
	if key, ok := strings.CutPrefix(name, "attr."); ok {
		return field{kind: fieldJSON, col: "attributes", key: key}
	}
	if key, ok := strings.CutPrefix(name, "resource."); ok {
		// Promoted resource attributes are columns, not keys of
		// resource_attributes.
		if f := lookup(key); strings.Contains(key, ".") && f.kind == fieldColumn {
			return f
		}
		return field{kind: fieldJSON, col: "resource_attributes", key: key}
	}
	col := ""
	switch name {
	case "body", "message", "msg":
		return field{kind: fieldText, col: "body"}
	case "level", "severity", "severity_number":
		return field{kind: fieldLevel}
	case "service", "service_name", "service.name":
		col = "service_name"
	case "version", "service_version", "service.version":
		col = "service_version"
	case "instance", "service_instance_id", "service.instance.id":
		col = "service_instance_id"
	case "env", "environment", "deployment_environment", "deployment.environment", "deployment.environment.name":
		col = "deployment_environment"
	case "host", "host_name", "host.name":
		col = "host_name"
	case "zone", "availability_zone", "cloud.availability_zone":
		col = "availability_zone"
	case "scope", "scope_name":
		col = "scope_name"
	case "event", "event_name":
		col = "event_name"
	case "trace_id", "span_id", "request_id", "source", "severity_text":
		col = name
	default:
		return field{kind: fieldJSON, col: "attributes", key: name}
	}
	return field{kind: fieldColumn, col: col}
}
