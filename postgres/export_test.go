package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"
)

// Unavailable exposes the error mapping to the tests.
var Unavailable = unavailable

// SetUnbatched makes s run every short write in a transaction of its own, bypassing the
// writer: the baseline the benchmarks compare batching with.
func SetUnbatched(s *Store) { s.unbatched = true }

// Pool exposes the store's pool to the benchmarks' hand-written baselines.
func Pool(s *Store) *pgxpool.Pool { return s.pool }
