package balancer

// Maglev lookup tables (Eisenbud et al., NSDI 2016): every target fills
// table slots in the order of its own permutation of the table, so a key's
// slot maps to a target in O(1), and removing one of N targets remaps
// about 1/N of the slots.

// maglevSizes are primes for the table size; the smallest one at least
// 100 times the number of targets is used (Envoy's default is 65537).
var maglevSizes = [...]uint64{65537, 131071, 262147, 524287, 1048573}

func maglevSize(n int) uint64 {
	for _, m := range maglevSizes {
		if m >= 100*uint64(n) {
			return m
		}
	}
	return maglevSizes[len(maglevSizes)-1]
}

// buildMaglev returns a table of m slots holding indexes into ts. Targets
// fill slots in proportion to weights; weights and ts must be non-empty
// and of equal length.
func buildMaglev(ts []*Target, weights []int64, m uint64) []int32 {
	n := len(ts)
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n)
	credit := make([]int64, n)
	var maxW int64
	for i, t := range ts {
		offset[i] = t.hash % m
		skip[i] = mix64(t.hash^0x9e3779b97f4a7c15)%(m-1) + 1
		maxW = max(maxW, weights[i])
	}
	table := make([]int32, m)
	for i := range table {
		table[i] = -1
	}
	for filled := uint64(0); ; {
		for i := range ts {
			credit[i] += weights[i]
			if credit[i] < maxW {
				continue
			}
			credit[i] -= maxW
			c := (offset[i] + next[i]*skip[i]) % m
			for table[c] >= 0 {
				next[i]++
				c = (offset[i] + next[i]*skip[i]) % m
			}
			table[c] = int32(i)
			next[i]++
			filled++
			if filled == m {
				return table
			}
		}
	}
}
