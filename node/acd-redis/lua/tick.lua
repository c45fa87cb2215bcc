-- tick: what time made due. Only items whose deadline passed are looked at
-- (the deadlines zset holds each agent's, call's and returning caller's).
local due = redis.call('ZRANGEBYSCORE', K_DEADLINES, '-inf', istr(now))
local due_agents, due_calls, due_resume = {}, {}, {}
for _, item in ipairs(due) do
  local kind, id = string.sub(item, 1, 1), string.sub(item, 3)
  if kind == 'a' then table.insert(due_agents, id)
  elseif kind == 'c' then table.insert(due_calls, id)
  else table.insert(due_resume, id) end
end
table.sort(due_agents, before)
table.sort(due_calls, before)
local logged_out = false
for _, id in ipairs(due_agents) do
  local a = get_agent(id)
  if a and a.state == 'wrap_up' and a.wrap_until <= now then
    a.state = 'available'
    a.since = a.wrap_until
    a.idle_since = a.wrap_until
    logged_out = apply_pending(id, a) or logged_out
    put_agent(id, a)
  end
end
local expired = {}
for _, id in ipairs(due_calls) do
  local c = get_call(id)
  if c and #c.offers > 0 and c.offer_expires <= now then
    for _, o in ipairs(c.offers) do table.insert(expired, o.reservation) end
  end
end
for _, reservation in ipairs(expired) do offer_failed(reservation, 'no_answer') end
for _, id in ipairs(due_calls) do
  local c = get_call(id)
  if c and #c.offers == 0 then
    local q = config.queues[c.queue]
    if q and now - c.enqueued_at >= q.max_wait_ms then
      local position = rank(c.queue, c.score)
      remove_call(id)
      event(c.queue, id, 'NONE', 'EXITWITHTIMEOUT', { istr(position), '1', secs(math.max(0, now - c.enqueued_at)) })
      notice({ notice = 'timeout', unit = unit, queue = c.queue, call = id, node = c.node })
    end
  end
end
for _, key in ipairs(due_resume) do
  local raw = redis.call('HGET', K_RESUME, key)
  if not raw or cjson.decode(raw)['until'] <= now then
    redis.call('HDEL', K_RESUME, key)
    set_deadline('r:' .. key, nil)
  end
end
if logged_out then after_logout_check() end
match_unit()
-- The due items still here get their next deadline.
for _, id in ipairs(due_agents) do
  local a = get_agent(id)
  if a then put_agent(id, a) end
end
for _, id in ipairs(due_calls) do
  local c = get_call(id)
  if c then put_call(id, c) end
end
return finish(true)
