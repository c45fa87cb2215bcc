-- answered: ARGV[3] reservation.
local reservation = ARGV[3]
local agent_id, call_id = reserved_by(reservation)
if not agent_id then
  -- A retry of an answer already recorded gets the same answer.
  local id = redis.call('HGET', K_RESERVATIONS, reservation)
  local a = id and get_agent(id)
  if a and a.state == 'on_call' and a.answered == reservation then
    return finish({ answered = true, call = a.call, agent = id })
  end
  return finish({ answered = false })
end
local c = get_call(call_id)
if not c then return finish({ answered = false }) end
remove_call(call_id)
local waited = math.max(0, now - c.enqueued_at)
local released, logged_out = false, false
for _, o in ipairs(c.offers) do
  if o.agent ~= agent_id then
    released = true
    logged_out = release(o.agent, o.reservation, 0) or logged_out
    notice({ notice = 'cancel', unit = unit, call = call_id, node = c.node, agent = o.agent, reservation = o.reservation })
    event(c.queue, call_id, o.agent, 'RINGCANCELED', { '0' })
  end
end
local a = get_agent(agent_id)
a.state = 'on_call'
a.since = now
a.reservation = nil
a.answered = reservation
a.misses = 0
a.calls = a.calls + 1
a.call_started = now
a.not_before = 0
put_agent(agent_id, a)
local avg = tonumber(redis.call('HGET', K_AVG, c.queue) or waited)
avg = math.floor((avg * 7 + waited) / 8)
redis.call('HSET', K_AVG, c.queue, istr(avg))
event(c.queue, call_id, agent_id, 'CONNECT', { secs(waited), reservation, '0' })
-- Ring-all: the agents who rang in vain are free for the next caller.
if released then
  if logged_out then after_logout_check() end
  match_unit()
end
return finish({ answered = true, call = call_id, agent = agent_id })
