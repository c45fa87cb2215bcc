-- failed: ARGV[3] reservation, [4] failure (no_answer, busy, rejected, unreachable).
offer_failed(ARGV[3], ARGV[4])
return finish(true)
