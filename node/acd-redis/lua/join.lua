-- join: ARGV[3] queue, [4] call, [5] caller, [6] node, [7] priority.
local queue, call_id, caller, node_name = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local priority = math.min(tonumber(ARGV[7]), 9)
local q = config.queues[queue]
if not q then return finish({ outcome = 'unknown_queue' }) end
local existing = get_call(call_id)
if existing then
  return finish({ outcome = 'queued', position = rank(existing.queue, existing.score), resumed = false })
end
local logged_in = false
for _, m in ipairs(q.members) do
  local a = get_agent(m.agent)
  if a and a.state ~= 'logged_out' then logged_in = true break end
end
if not logged_in then return finish({ outcome = 'no_agents' }) end
if q.max_len > 0 and redis.call('ZCARD', waiting_key[queue]) >= q.max_len then
  return finish({ outcome = 'full' })
end
local seq = redis.call('INCR', K_SEQ)
local score = (9 - priority) * PRIORITY_SHIFT + seq
local resumed = false
if caller ~= '' then
  local key = queue .. '\n' .. caller
  local raw = redis.call('HGET', K_RESUME, key)
  if raw then
    redis.call('HDEL', K_RESUME, key)
    set_deadline('r:' .. key, nil)
    local r = cjson.decode(raw)
    if r['until'] > now then
      score = r.score
      resumed = true
    end
  end
end
put_call(call_id, { queue = queue, node = node_name, caller = caller, score = score, seq = seq,
  enqueued_at = now, offers = {}, offer_expires = 0 })
redis.call('ZADD', waiting_key[queue], istr(score), call_id)
local position = rank(queue, score)
event(queue, call_id, 'NONE', 'ENTERQUEUE', { '', caller, istr(position) })
match_unit()
return finish({ outcome = 'queued', position = position, resumed = resumed })
