package duckdb

/*
#include <stdlib.h>
*/
import "C"

import "unsafe"

// arenaBlock is the size of the arena's reusable blocks; larger strings get
// an allocation of their own.
const arenaBlock = 1 << 20

// arena holds the bytes of the long strings of one data chunk. DuckDB's
// string_t points at them from C memory, and C memory may not hold Go
// pointers, so the bytes are copied into memory from C.malloc.
type arena struct {
	blocks []unsafe.Pointer // arenaBlock bytes each, kept across resets
	big    []bigAlloc       // strings larger than a quarter block, freed on reset
	cur    int              // block being filled
	off    int              // bytes used in blocks[cur]
}

type bigAlloc struct {
	p unsafe.Pointer
	n int
}

// alloc returns n bytes of C memory, valid until reset or free.
func (a *arena) alloc(n int) unsafe.Pointer {
	if n > arenaBlock/4 {
		p := C.malloc(C.size_t(n)) // cgo's malloc aborts rather than return nil
		a.big = append(a.big, bigAlloc{p, n})
		return p
	}
	for {
		if a.cur < len(a.blocks) {
			if a.off+n <= arenaBlock {
				p := unsafe.Add(a.blocks[a.cur], a.off)
				a.off += n
				return p
			}
			a.cur++
			a.off = 0
			continue
		}
		a.blocks = append(a.blocks, C.malloc(arenaBlock))
	}
}

// reset makes the blocks available again and frees the large strings.
func (a *arena) reset() {
	for _, b := range a.big {
		C.free(b.p)
	}
	a.big = a.big[:0]
	a.cur, a.off = 0, 0
}

// poison overwrites every byte handed out since the last reset, so that a
// test sees it if DuckDB kept a pointer into the arena.
func (a *arena) poison() {
	for i, p := range a.blocks {
		n := arenaBlock
		if i == a.cur {
			n = a.off
		} else if i > a.cur {
			break
		}
		clear255(unsafe.Slice((*byte)(p), n))
	}
	for _, b := range a.big {
		clear255(unsafe.Slice((*byte)(b.p), b.n))
	}
}

func clear255(b []byte) {
	for i := range b {
		b[i] = 0xff
	}
}

// free releases all C memory of the arena.
func (a *arena) free() {
	a.reset()
	for _, p := range a.blocks {
		C.free(p)
	}
	a.blocks = nil
}
