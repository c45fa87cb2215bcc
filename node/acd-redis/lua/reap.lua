-- reap: ARGV[3] a dead node. Its callers leave, the agents it reserved are
-- free, those in its calls end them (wrap-up, then available).
local node_name = ARGV[3]
local lost = {}
for _, id in ipairs(all_call_ids()) do
  local c = get_call(id)
  if c and c.node == node_name then table.insert(lost, id) end
end
local logged_out = false
for _, id in ipairs(lost) do
  local c = get_call(id)
  local position = rank(c.queue, c.score)
  remove_call(id)
  for _, o in ipairs(c.offers) do logged_out = release(o.agent, o.reservation, 0) or logged_out end
  event(c.queue, id, 'NONE', 'ABANDON', { istr(position), '1', secs(math.max(0, now - c.enqueued_at)), 'node_lost' })
end
local in_calls = {}
for _, id in ipairs(all_agent_ids()) do
  local a = get_agent(id)
  if a and a.state == 'on_call' and a.node == node_name then table.insert(in_calls, { id, a.call }) end
end
for _, pair in ipairs(in_calls) do call_ended(pair[1], pair[2], false) end
if logged_out then after_logout_check() end
match_unit()
return finish(true)
