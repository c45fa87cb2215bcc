-- position: ARGV[3] call (reads only).
local c = get_call(ARGV[3])
if not c then return 'null' end
return cjson.encode({ position = rank(c.queue, c.score), waiting = redis.call('ZCARD', waiting_key[c.queue]),
  average_wait_ms = tonumber(redis.call('HGET', K_AVG, c.queue) or 0) })
