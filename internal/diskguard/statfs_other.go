//go:build !(linux || darwin || freebsd)

package diskguard

import (
	"errors"
	"fmt"
)

func statfs(dir string) (int64, error) {
	return 0, fmt.Errorf("cannot read the free space of %s: %w", dir, errors.ErrUnsupported)
}
