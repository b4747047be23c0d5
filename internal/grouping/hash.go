package grouping

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// The hash is the first 16 bytes of SHA-256, in lower-case hex, over a
// prefix-free encoding of the contributing part of the component tree:
//
//	node  = '(' str(id) { 'v' str(value) } { node } ')'
//	str   = uvarint(len) bytes
//
// Each string is length-prefixed and each node delimited, so no two
// different trees (frame boundaries, ids, values) share an encoding. Only
// contributing nodes are written; a non-contributing node and its subtree
// leave no trace, so what the explanation marks as ignored really is.

type encoder struct{ buf []byte }

func (e *encoder) str(s string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) component(c *Component) {
	if !c.Contributes {
		return
	}
	e.buf = append(e.buf, '(')
	e.str(c.ID)
	for _, v := range c.Values {
		e.buf = append(e.buf, 'v')
		e.str(v)
	}
	for i := range c.Children {
		e.component(&c.Children[i])
	}
	e.buf = append(e.buf, ')')
}

func (e *encoder) sum() string {
	h := sha256.Sum256(e.buf)
	return hex.EncodeToString(h[:16])
}

// hashComponent hashes the contributing part of c (all of it counts even
// when c itself is marked as not contributing, for the default variant of
// an empty event).
func hashComponent(c *Component) string {
	var e encoder
	return e.hash(c)
}

// hash is hashComponent reusing e's buffer.
func (e *encoder) hash(c *Component) string {
	e.buf = e.buf[:0]
	root := *c
	root.Contributes = true
	e.component(&root)
	return e.sum()
}

// hashValues hashes a custom fingerprint: its resolved parts.
func hashValues(id string, values []string) string {
	var e encoder
	e.buf = append(e.buf, '(')
	e.str(id)
	for _, v := range values {
		e.buf = append(e.buf, 'v')
		e.str(v)
	}
	e.buf = append(e.buf, ')')
	return e.sum()
}
