package filter

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Parse parses a query. A blank query parses to an empty And, which matches
// every record. Errors are of type *Error.
func Parse(s string) (Expr, error) {
	if len(s) > MaxQueryBytes {
		return nil, &Error{MaxQueryBytes, fmt.Sprintf("query longer than %d bytes", MaxQueryBytes)}
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return nil, &Error{i, "invalid UTF-8"}
		}
		i += n
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return And{}, nil
	}
	p := parser{toks: toks}
	x, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		// or() stops only at the end or at a ")" it did not open.
		return nil, &Error{t.pos, "unbalanced parenthesis"}
	}
	return x, nil
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokTerm
	tokLParen
	tokRParen
	tokAnd
	tokOr
	tokNot
)

type token struct {
	kind tokenKind
	pos  int
	text string // as written, for error messages
	term Expr   // Text or Term, for tokTerm
}

// lex splits s into tokens. Terms are lexed whole, since they hold no
// spaces, and checked against the field table so that errors point into s.
func lex(s string) ([]token, error) {
	var toks []token
	terms := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			i++
			continue
		case c == '(':
			toks = append(toks, token{kind: tokLParen, pos: i, text: "("})
			i++
			continue
		case c == ')':
			toks = append(toks, token{kind: tokRParen, pos: i, text: ")"})
			i++
			continue
		case c == '-':
			if i+1 == len(s) || isSpace(s[i+1]) || s[i+1] == ')' {
				return nil, &Error{i + 1, `expected a term after "-"`}
			}
			toks = append(toks, token{kind: tokNot, pos: i, text: "-"})
			i++
			continue
		}
		if w := s[i:wordEnd(s, i)]; isKeyword(w) {
			kind := tokNot
			switch w {
			case "AND":
				kind = tokAnd
			case "OR":
				kind = tokOr
			}
			toks = append(toks, token{kind: kind, pos: i, text: w})
			i += len(w)
			continue
		}
		if terms++; terms > MaxTerms {
			return nil, &Error{i, fmt.Sprintf("more than %d terms", MaxTerms)}
		}
		x, end, err := lexTerm(s, i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, token{kind: tokTerm, pos: i, text: s[i:end], term: x})
		i = end
	}
	return toks, nil
}

// lexTerm reads the text or field term that starts at s[i] and returns it
// with the offset just past it.
func lexTerm(s string, i int) (Expr, int, error) {
	if s[i] == '"' {
		// A trailing * is redundant: text search already matches substrings.
		v, end, _, err := unquote(s, i)
		return Text{v}, end, err
	}
	end := wordEnd(s, i)
	w := s[i:end]
	field, op, ok := splitTerm(w)
	if !ok {
		return Text{strings.TrimSuffix(w, "*")}, end, nil
	}
	t := Term{Field: field, Op: op, Value: w[len(field)+len(op):]}
	switch {
	case t.Value != "":
		t.Value, t.Prefix = strings.CutSuffix(t.Value, "*")
	case end < len(s) && s[end] == '"':
		var err error
		if t.Value, end, t.Prefix, err = unquote(s, end); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, &Error{end, fmt.Sprintf("expected value after %q", w)}
	}
	if _, err := resolve(t); err != nil {
		return nil, 0, &Error{i, err.Error()}
	}
	return t, end, nil
}

// splitTerm splits a bare word into field and operator when it starts with a
// field name followed by an operator, as in level>=warn. Other words, such
// as 12:30 or -> or hello!, are text.
func splitTerm(w string) (field string, op Op, ok bool) {
	j := strings.IndexAny(w, ":=!<>")
	if j <= 0 || !isFieldName(w[:j]) {
		return "", "", false
	}
	switch rest := w[j:]; {
	case strings.HasPrefix(rest, "!="), strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, ">="):
		return w[:j], Op(rest[:2]), true
	case rest[0] == '!':
		return "", "", false
	case rest[0] == '=':
		return w[:j], Eq, true
	default:
		return w[:j], Op(rest[:1]), true
	}
}

func isFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '.' || c == '-')) {
			return false
		}
	}
	return s != ""
}

// unquote reads the quoted string that starts at s[i] and returns its value
// and the offset past the closing quote and past a * right after it, which
// makes the value a prefix. \" and \\ are escapes; any other backslash is
// kept, so that "C:\temp" means what it says.
func unquote(s string, i int) (v string, end int, star bool, err error) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			if j+1 < len(s) && s[j+1] == '*' {
				return b.String(), j + 2, true, nil
			}
			return b.String(), j + 1, false, nil
		case c == '\\' && j+1 < len(s) && (s[j+1] == '"' || s[j+1] == '\\'):
			j++
			b.WriteByte(s[j])
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false, &Error{i, "unterminated quote"}
}

// wordEnd returns the offset of the end of the bare word starting at s[i].
func wordEnd(s string, i int) int {
	for ; i < len(s); i++ {
		if c := s[i]; isSpace(c) || c == '(' || c == ')' || c == '"' {
			break
		}
	}
	return i
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// parser is a recursive-descent parser over the tokens of a query:
//
//	or    = and { "OR" and }
//	and   = unary { [ "AND" ] unary }
//	unary = ( "NOT" | "-" ) unary | "(" or ")" | term
type parser struct {
	toks  []token
	i     int
	depth int // enclosing parentheses and negations
}

func (p *parser) peek() token {
	if p.i >= len(p.toks) {
		return token{kind: tokEOF}
	}
	return p.toks[p.i]
}

func (p *parser) next() token {
	t := p.peek()
	p.i++
	return t
}

func (p *parser) or() (Expr, error) {
	var xs Or
	for {
		x, err := p.and()
		if err != nil {
			return nil, err
		}
		if y, ok := x.(Or); ok {
			xs = append(xs, y...)
		} else {
			xs = append(xs, x)
		}
		if p.peek().kind != tokOr {
			break
		}
		p.next()
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return xs, nil
}

func (p *parser) and() (Expr, error) {
	var xs And
	for {
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if y, ok := x.(And); ok {
			xs = append(xs, y...)
		} else {
			xs = append(xs, x)
		}
		switch p.peek().kind {
		case tokAnd:
			p.next()
			continue
		case tokTerm, tokLParen, tokNot:
			continue
		}
		break
	}
	if len(xs) == 1 {
		return xs[0], nil
	}
	return xs, nil
}

func (p *parser) unary() (Expr, error) {
	t := p.next()
	switch t.kind {
	case tokTerm:
		return t.term, nil
	case tokNot, tokLParen:
		if p.depth++; p.depth > MaxDepth {
			return nil, &Error{t.pos, fmt.Sprintf("nesting deeper than %d", MaxDepth)}
		}
		defer func() { p.depth-- }()
		if t.kind == tokNot {
			x, err := p.unary()
			if err != nil {
				return nil, err
			}
			return Not{x}, nil
		}
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tokRParen {
			return nil, &Error{t.pos, "unbalanced parenthesis"}
		}
		return x, nil
	}
	// A term is missing: point at where it should be.
	if p.i == 1 {
		return nil, &Error{t.pos, fmt.Sprintf("expected a term, found %q", t.text)}
	}
	prev := p.toks[p.i-2]
	if t.kind == tokEOF {
		t.pos = prev.pos + len(prev.text)
	}
	return nil, &Error{t.pos, fmt.Sprintf("expected a term after %q", prev.text)}
}
