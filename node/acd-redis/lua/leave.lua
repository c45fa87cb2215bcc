-- leave: ARGV[3] call, [4] reason (abandon, exit_key, failure).
local call_id, reason = ARGV[3], ARGV[4]
local c = get_call(call_id)
if not c then return finish({ offers = {} }) end
local position = rank(c.queue, c.score)
remove_call(call_id)
local logged_out = false
for _, o in ipairs(c.offers) do
  logged_out = release(o.agent, o.reservation, 0) or logged_out
  event(c.queue, call_id, o.agent, 'RINGCANCELED', { '0' })
end
local waited = secs(math.max(0, now - c.enqueued_at))
if reason == 'exit_key' then
  event(c.queue, call_id, 'NONE', 'EXITWITHKEY', { 'key', istr(position), '1', waited })
else
  event(c.queue, call_id, 'NONE', 'ABANDON', { istr(position), '1', waited })
end
if reason == 'abandon' and c.caller ~= '' then
  local window = queue_config(c.queue).resume_window_ms
  if window > 0 then
    local key = c.queue .. '\n' .. c.caller
    redis.call('HSET', K_RESUME, key, cjson.encode({ score = c.score, ['until'] = now + window }))
    set_deadline('r:' .. key, now + window)
  end
end
if logged_out then after_logout_check() end
if #c.offers > 0 then match_unit() end
local offers = {}
for _, o in ipairs(c.offers) do table.insert(offers, { o.agent, o.reservation }) end
return finish({ offers = offers })
