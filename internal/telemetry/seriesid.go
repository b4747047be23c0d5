package telemetry

import "encoding/binary"

// The series id of a metric point (MetricPoint.SeriesID) is the same for
// the same stream whichever source it came from, so the decoders that make
// points share these functions: OTLP and StatsD points of one name and
// labels land in one series.

// FNVOffset starts an FNV-1a hash.
const FNVOffset = 14695981039346656037

// FNVPrime is the 64-bit FNV prime.
const FNVPrime = 1099511628211

// FNV64a continues the 64-bit FNV-1a hash h over b.
func FNV64a[T string | []byte](h uint64, b T) uint64 {
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= FNVPrime
	}
	return h
}

// Mix64 is the splitmix64 finaliser. FNV alone spreads its input poorly in
// the high bits, which a sum of hashes would then carry into collisions.
func Mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// PairHash hashes one attribute as its JSON text `"key":value`. A set of
// attributes hashes to the sum of its pairs' hashes, which does not depend
// on their order.
func PairHash(pair []byte) uint64 { return Mix64(FNV64a(FNVOffset, pair)) }

// SeriesID combines the hash of the metric name (FNV64a from FNVOffset)
// with the order-independent hashes of the resource and point attributes.
// They are kept apart so that an attribute moving between resource and
// point makes a different series.
func SeriesID(nameHash, resHash, attrHash uint64) uint64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], resHash)
	binary.LittleEndian.PutUint64(b[8:], attrHash)
	return Mix64(FNV64a(nameHash, b[:]))
}
