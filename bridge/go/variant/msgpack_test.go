package variant

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
)

// pack is a minimal msgpack encoder for the tests (nil, bool, numbers, strings,
// slices, maps with string keys), so they speak the bus with the standard library.
func pack(v interface{}) []byte {
	var b []byte
	u32 := func(tag byte, n int) {
		b = append(b, tag)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	switch x := v.(type) {
	case nil:
		return []byte{0xc0}
	case bool:
		if x {
			return []byte{0xc3}
		}
		return []byte{0xc2}
	case int:
		b = append(b, 0xd3)
		return binary.BigEndian.AppendUint64(b, uint64(int64(x)))
	case int64:
		b = append(b, 0xd3)
		return binary.BigEndian.AppendUint64(b, uint64(x))
	case float64:
		b = append(b, 0xcb)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x))
	case string:
		u32(0xdb, len(x))
		return append(b, x...)
	case []interface{}:
		u32(0xdd, len(x))
		for _, e := range x {
			b = append(b, pack(e)...)
		}
		return b
	case map[string]interface{}:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		u32(0xdf, len(x))
		for _, k := range keys {
			b = append(b, pack(k)...)
			b = append(b, pack(x[k])...)
		}
		return b
	}
	panic(fmt.Sprintf("pack: %T", v))
}

func header(version int) []byte {
	return pack(map[string]interface{}{"v": version, "src": "go-test", "seq": 1, "ts": 1.7e9})
}
