package query

import (
	"unicode/utf8"
)

// checkArgs rejects string parameters that are not valid UTF-8: DuckDB
// cannot bind them ("could not bind parameter"), and the caller's input is
// at fault, not the store.
func checkArgs(args []any) error {
	for i, a := range args {
		ok := true
		switch v := a.(type) {
		case string:
			ok = utf8.ValidString(v)
		case []string:
			for _, s := range v {
				ok = ok && utf8.ValidString(s)
			}
		}
		if !ok {
			return invalidf("text parameter %d is not valid UTF-8", i+1)
		}
	}
	return nil
}
