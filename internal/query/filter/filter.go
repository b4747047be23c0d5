// Package filter parses the log search language of Telltale's search box and
// compiles it to a parameterised SQL condition on the logs view.
//
//	service:userstore level>=warn "insufficient credit" user=u42 -env:dev
//
// Terms separated by spaces must all match; AND, OR and NOT (upper case only,
// so that "not found" stays a text search), a leading "-" for NOT, and
// parentheses combine them, with NOT binding tighter than AND, and AND tighter
// than OR. A bare word or "quoted text" matches log bodies containing it,
// ignoring case. field:value (or field=value) tests equality, field!=value
// its negation, and <, <=, >, >= compare; a trailing * on a value matches by
// prefix. Known fields (service, env, host, trace_id, level, ...) map to
// columns; any other field is a log attribute, and attr.<key> and
// resource.<key> name a log or resource attribute explicitly.
// docs/design/filter-language.md has the grammar and the semantics in full.
//
// A query is at most MaxQueryBytes long, holds at most MaxTerms terms and
// nests parentheses and negations at most MaxDepth deep, so that neither the
// parser nor the database can be made to do unbounded work.
package filter

import (
	"fmt"
	"strings"
)

// Limits on a query.
const (
	MaxQueryBytes = 4096
	MaxTerms      = 64
	MaxDepth      = 16
)

// Error is a problem in a query, found at byte Offset of its text.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("filter: at %d: %s", e.Offset, e.Msg) }

// Expr is a parsed query. Its String method prints it in normalised form,
// which Parse reads back to an equal Expr.
type Expr interface {
	String() string
	// compile appends the SQL condition of the expression to c.
	compile(c *compiler) error
}

// And matches when all its operands match. An empty And matches everything:
// it is what Parse returns for a blank query.
type And []Expr

// Or matches when any of its operands matches.
type Or []Expr

// Not matches when X does not.
type Not struct{ X Expr }

// Text matches log bodies that contain Value, ignoring case.
type Text struct{ Value string }

// Term compares a field with a value.
type Term struct {
	Field  string
	Op     Op
	Value  string
	Prefix bool // Value is a prefix (written with a trailing *); Op is Eq or Ne
}

// Op is a comparison operator, spelled as String prints it.
type Op string

// The operators of a Term. Eq is also written "=".
const (
	Eq Op = ":"
	Ne Op = "!="
	Lt Op = "<"
	Le Op = "<="
	Gt Op = ">"
	Ge Op = ">="
)

func (x And) String() string { return join(x, " ") }
func (x Or) String() string  { return join(x, " OR ") }
func (x Not) String() string { return "NOT " + operand(x.X) }
func (x Text) String() string {
	if needsQuote(x.Value) || isKeyword(x.Value) || strings.HasPrefix(x.Value, "-") ||
		strings.ContainsAny(x.Value, ":=!<>") {
		return quote(x.Value)
	}
	return x.Value
}

func (x Term) String() string {
	v := x.Value
	if needsQuote(v) && !(x.Prefix && v == "") {
		v = quote(v)
	}
	if x.Prefix {
		v += "*"
	}
	return x.Field + string(x.Op) + v
}

func join(xs []Expr, sep string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = operand(x)
	}
	return strings.Join(parts, sep)
}

// operand prints x as an operand of AND, OR or NOT. Parenthesising every
// compound operand makes the printed form unambiguous to readers who do not
// know the precedence rules.
func operand(x Expr) string {
	switch x.(type) {
	case And, Or:
		return "(" + x.String() + ")"
	}
	return x.String()
}

// needsQuote reports whether s cannot be written as a bare value: a bare
// value ends at a space, parenthesis or quote, and a trailing * makes it a
// prefix. Backslashes are literal in bare values.
func needsQuote(s string) bool {
	return s == "" || strings.ContainsAny(s, " \t\n\r\f\v()\"") || strings.HasSuffix(s, "*")
}

var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func quote(s string) string { return `"` + quoteEscaper.Replace(s) + `"` }

func isKeyword(s string) bool { return s == "AND" || s == "OR" || s == "NOT" }
