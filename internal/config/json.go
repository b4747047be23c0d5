package config

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
)

// MarshalJSON writes the file with the YAML key names (so that the JSON the
// API serves reads like the file), each object's "line", and empty values
// left out.
func (f File) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := appendJSON(&b, reflect.ValueOf(f)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

func appendJSON(b *bytes.Buffer, v reflect.Value) error {
	t := v.Type()
	if t == timeType || t.Implements(textMarshalerType) || t.Kind() != reflect.Struct && t.Kind() != reflect.Slice && t.Kind() != reflect.Pointer {
		// Leaves, maps of strings: as encoding/json writes them.
		// Conditions hold > and <: no HTML escaping.
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v.Interface()); err != nil {
			return err
		}
		b.Truncate(b.Len() - 1) // Encode's newline
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		return appendJSON(b, v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := appendJSON(b, v.Index(i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	}
	b.WriteByte('{')
	first := true
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if sf.Name == "Line" {
			name = "line"
		}
		fv := v.Field(i)
		// The top-level lists are always written, so that clients see
		// every kind of object even when there is none.
		empty := fv.IsZero() || (fv.Kind() == reflect.Map || fv.Kind() == reflect.Slice) && fv.Len() == 0
		if name == "" || name == "-" || empty && t != fileType {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		key, _ := json.Marshal(name)
		b.Write(key)
		b.WriteByte(':')
		if err := appendJSON(b, fv); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

var fileType = reflect.TypeFor[File]()
