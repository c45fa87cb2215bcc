-- The ACD model (node/acd/src/model.rs) in Lua: every operation script is
-- this library followed by the operation's own lines, run atomically by
-- Redis. Keep the two in step: the property tests compare them.
--
-- Keys, all with the unit's hash tag so a unit lives in one cluster slot:
--   KEYS[1]  cc:{u}:seq           counter of joins and reservations
--   KEYS[2]  cc:{u}:config        the unit's configuration (JSON)
--   KEYS[3]  cc:{u}:agents        hash agent -> agent state (JSON)
--   KEYS[4]  cc:{u}:calls         hash call -> waiting call (JSON)
--   KEYS[5]  cc:{u}:lastoffered   hash queue -> agent offered last
--   KEYS[6]  cc:{u}:resume        hash queue\ncaller -> {score, until} (JSON)
--   KEYS[7]  cc:{u}:avgwait       hash queue -> average answered wait, ms
--   KEYS[8]  cc:{u}:events        stream of queue_log events
--   KEYS[9]  cc:{u}:deadlines     zset item -> when it next needs a tick
--   KEYS[10] cc:{u}:reservations  hash reservation -> agent
--   KEYS[11] cc:{u}:available     set of the agents in state available: an
--                                 index, so matching reads only free agents
--   KEYS[12] cc:{u}:unoffered     zset call -> score of the waiting calls that
--                                 ring nobody: an index, so matching finds
--                                 each queue's head without reading every call
--   KEYS[13..] cc:{u}:waiting:<q> zset call -> score, one per queue in name order
-- ARGV[1] unit, ARGV[2] now (ms), then the operation's arguments.

local unit = ARGV[1]
local now = tonumber(ARGV[2])
local K_SEQ, K_CONFIG, K_AGENTS, K_CALLS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_LAST, K_RESUME, K_AVG, K_EVENTS = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local K_DEADLINES, K_RESERVATIONS, K_AVAILABLE, K_UNOFFERED = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local PRIORITY_SHIFT = 1099511627776 -- 2^40
local RESERVATION_GRACE_MS = 10000

local function present(v)
  return v ~= nil and v ~= cjson.null
end

local function istr(n)
  return string.format('%d', n)
end

local function secs(ms)
  return istr(math.floor(ms / 1000))
end

-- Byte order, as Rust compares strings (Lua's < follows the locale).
local function before(a, b)
  local la, lb = #a, #b
  for i = 1, math.min(la, lb) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return la < lb
end

local config_raw = redis.call('GET', K_CONFIG)
local config = config_raw and cjson.decode(config_raw) or { queues = {}, agents = {} }
local queue_names = {}
for name, _ in pairs(config.queues) do table.insert(queue_names, name) end
table.sort(queue_names, before)
local waiting_key = {}
for i, name in ipairs(queue_names) do waiting_key[name] = KEYS[12 + i] end

local function queue_config(name)
  local q = config.queues[name]
  if not q then
    return { strategy = 'longest_idle', ring_timeout_ms = 15000, max_wait_ms = 600000, wrap_up_ms = 0,
      max_len = 0, escalate_after_ms = 0, no_answer_delay_ms = 5000, busy_delay_ms = 10000,
      reject_delay_ms = 10000, max_misses = 3, resume_window_ms = 0, members = {} }
  end
  return q
end

-- ----- state, cached for the script and written back at the end -----

local agents, agents_dirty = {}, {}
local calls, calls_dirty, calls_gone = {}, {}, {}
local fx = { notices = {}, events = {} }

local function get_agent(id)
  if agents[id] == nil then
    local raw = redis.call('HGET', K_AGENTS, id)
    agents[id] = raw and cjson.decode(raw) or false
  end
  return agents[id] or nil
end

local function put_agent(id, a)
  agents[id] = a
  agents_dirty[id] = true
end

local function get_call(id)
  if calls_gone[id] then return nil end
  if calls[id] == nil then
    local raw = redis.call('HGET', K_CALLS, id)
    calls[id] = raw and cjson.decode(raw) or false
  end
  return calls[id] or nil
end

local function put_call(id, c)
  calls[id] = c
  calls_dirty[id] = true
  calls_gone[id] = nil
end

local function all_agent_ids()
  local ids = redis.call('HKEYS', K_AGENTS)
  table.sort(ids, before)
  return ids
end

local function all_call_ids()
  local ids = redis.call('HKEYS', K_CALLS)
  local live = {}
  for _, id in ipairs(ids) do
    if not calls_gone[id] then table.insert(live, id) end
  end
  for id, _ in pairs(calls_dirty) do
    if not calls_gone[id] and redis.call('HEXISTS', K_CALLS, id) == 0 then table.insert(live, id) end
  end
  table.sort(live, before)
  return live
end

local function event(queue, call, agent, name, data)
  table.insert(fx.events, { time = now, unit = unit, queue = queue, call = call, agent = agent, event = name, data = data })
end

local function notice(n)
  table.insert(fx.notices, n)
end

-- 1-based place of a score in its queue.
local function rank(queue, score)
  local key = waiting_key[queue]
  if not key then return 1 end
  return redis.call('ZCOUNT', key, '-inf', '(' .. istr(score)) + 1
end

local function remove_call(id)
  local c = get_call(id)
  if not c then return end
  if waiting_key[c.queue] then redis.call('ZREM', waiting_key[c.queue], id) end
  calls_gone[id] = true
  calls[id] = false
  calls_dirty[id] = nil
end

local function reserved_by(reservation)
  local id = redis.call('HGET', K_RESERVATIONS, reservation)
  if not id then return nil end
  local a = get_agent(id)
  if a and a.state == 'reserved' and a.reservation == reservation and present(a.call) then
    return id, a.call
  end
  return nil
end

-- True when it was a logout (model: apply_pending).
local function apply_pending(id, a)
  if a.pending == 'logout' then
    a.pending = nil
    a.pending_reason = nil
    a.state = 'logged_out'
    a.since = now
    a.reason = nil
    event('NONE', 'NONE', id, 'AGENTLOGOFF', {})
    return true
  elseif a.pending == 'pause' then
    local reason = a.pending_reason
    a.pending = nil
    a.pending_reason = nil
    a.state = 'paused'
    a.since = now
    a.reason = reason
    event('NONE', 'NONE', id, 'PAUSE', { reason })
  end
  return false
end

-- True when a logout asked for meanwhile took effect (model: release).
local function release(id, reservation, rest)
  local a = get_agent(id)
  if not a or a.state ~= 'reserved' or a.reservation ~= reservation then return false end
  redis.call('HDEL', K_RESERVATIONS, reservation)
  a.state = 'available'
  a.since = now
  a.call = nil
  a.reservation = nil
  a.node = nil
  a.queue = nil
  a.not_before = now + rest
  local logged_out = apply_pending(id, a)
  put_agent(id, a)
  return logged_out
end

-- ----- deadlines: when each item next needs a tick -----

local function agent_deadline(a)
  if a.state == 'wrap_up' then return a.wrap_until end
  if a.state == 'available' and (a.not_before or 0) > now then return a.not_before end
  return nil
end

local function call_deadline(c)
  if #c.offers > 0 then return c.offer_expires end
  local q = config.queues[c.queue]
  if not q then return nil end
  local d = c.enqueued_at + q.max_wait_ms
  if q.escalate_after_ms > 0 then
    local periods = math.floor(math.max(0, now - c.enqueued_at) / q.escalate_after_ms) + 1
    local e = c.enqueued_at + periods * q.escalate_after_ms
    if e < d then d = e end
  end
  return d
end

local function set_deadline(item, at)
  if at then
    redis.call('ZADD', K_DEADLINES, istr(at), item)
  else
    redis.call('ZREM', K_DEADLINES, item)
  end
end

-- ----- choosing agents and matching -----

-- Whether an agent may be available: in the index, or changed by this
-- script (the index is brought up to date at its end). Only those agents'
-- states are read when matching: under load, few.
local available_index = nil
local function maybe_available(id)
  if agents_dirty[id] then return true end
  if available_index == nil then
    available_index = {}
    for _, a in ipairs(redis.call('SMEMBERS', K_AVAILABLE)) do available_index[a] = true end
  end
  return available_index[id] == true
end

local function choose_agents(queue, q, c)
  -- The loader stores members by level, then as the document lists them.
  local members = q.members
  if #members == 0 then return {} end
  local allowed = math.huge
  if q.escalate_after_ms > 0 then
    allowed = members[1].level + math.floor(math.max(0, now - c.enqueued_at) / q.escalate_after_ms)
  end
  local free = {}
  for i, m in ipairs(members) do
    if m.level <= allowed and maybe_available(m.agent) then
      local a = get_agent(m.agent)
      if a and a.state == 'available' and (a.not_before or 0) <= now then
        table.insert(free, { member = m, agent = a, position = i })
      end
    end
  end
  if #free == 0 then return {} end
  local level = free[1].member.level
  local candidates = {}
  for _, f in ipairs(free) do
    if f.member.level == level then table.insert(candidates, f) end
  end
  -- The least key; ties go to the first in member order.
  local function pick(key)
    local best, best_key
    for _, f in ipairs(candidates) do
      local k1, k2 = key(f.agent)
      if best == nil or k1 < best_key[1] or (k1 == best_key[1] and k2 < best_key[2]) then
        best, best_key = f, { k1, k2 }
      end
    end
    return { best.member.agent }
  end
  local s = q.strategy
  if s == 'ring_all' then
    local all = {}
    for _, f in ipairs(candidates) do table.insert(all, f.member.agent) end
    return all
  elseif s == 'fewest_calls' then
    return pick(function(a) return a.calls, a.idle_since end)
  elseif s == 'least_talk_time' then
    return pick(function(a) return a.talk_ms, a.idle_since end)
  elseif s == 'round_robin' then
    -- The first candidate after the agent offered last, in member order.
    local last = redis.call('HGET', K_LAST, queue)
    local last_position = nil
    if last then
      for i, m in ipairs(members) do
        if m.agent == last then last_position = i break end
      end
    end
    local index = 1
    if last_position then
      for i, f in ipairs(candidates) do
        if f.position > last_position then index = i break end
      end
    end
    return { candidates[index].member.agent }
  elseif s == 'random' then
    local index = ((now + c.seq * 7919) % #candidates) + 1
    return { candidates[index].member.agent }
  end
  return pick(function(a) return a.idle_since, 0 end)
end

-- Visits the waiting calls that ring nobody, by score, until `visit`
-- returns true: the index read a page at a time, merged with this script's
-- changes (the index is brought up to date at its end).
local function each_unoffered(visit)
  local dirty = {}
  for id, _ in pairs(calls_dirty) do
    local c = calls[id]
    if c and #c.offers == 0 then table.insert(dirty, { call = id, score = c.score }) end
  end
  local function earlier(x_score, x_call, y_score, y_call)
    if x_score ~= y_score then return x_score < y_score end
    return before(x_call, y_call)
  end
  table.sort(dirty, function(x, y) return earlier(x.score, x.call, y.score, y.call) end)
  local d = 1
  local start, page = 0, 4
  while true do
    local raw = redis.call('ZRANGE', K_UNOFFERED, start, start + page - 1, 'WITHSCORES')
    for i = 1, #raw, 2 do
      local id, score = raw[i], tonumber(raw[i + 1])
      if not calls_dirty[id] and not calls_gone[id] then
        while dirty[d] and earlier(dirty[d].score, dirty[d].call, score, id) do
          if visit(dirty[d].call, dirty[d].score) then return end
          d = d + 1
        end
        if visit(id, score) then return end
      end
    end
    if #raw < page * 2 then break end
    start = start + page
    page = page * 4
  end
  while dirty[d] do
    if visit(dirty[d].call, dirty[d].score) then return end
    d = d + 1
  end
end

local function match_unit()
  for _ = 1, 10000 do
    -- Each queue's head: its first caller ringing nobody. Scores are unique
    -- in a unit, so the first seen of a queue is its head, and heads come
    -- in the model's order.
    local heads = {}
    local seen = {}
    each_unoffered(function(id, score)
      local c = get_call(id)
      if c and #c.offers == 0 and waiting_key[c.queue] and not seen[c.queue] then
        seen[c.queue] = true
        table.insert(heads, { score = score, call = id, queue = c.queue })
      end
      return #heads == #queue_names
    end)
    local offered = false
    for _, h in ipairs(heads) do
      local q = config.queues[h.queue]
      if q then
        local c = get_call(h.call)
        local chosen = choose_agents(h.queue, q, c)
        if #chosen > 0 then
          for _, agent_id in ipairs(chosen) do
            local seq = redis.call('INCR', K_SEQ)
            local reservation = 'r' .. istr(seq)
            local a = get_agent(agent_id)
            a.state = 'reserved'
            a.since = now
            a.call = h.call
            a.reservation = reservation
            a.node = c.node
            a.queue = h.queue
            put_agent(agent_id, a)
            redis.call('HSET', K_RESERVATIONS, reservation, agent_id)
            redis.call('HSET', K_LAST, h.queue, agent_id)
            table.insert(c.offers, { agent = agent_id, reservation = reservation })
            c.offer_expires = now + q.ring_timeout_ms + RESERVATION_GRACE_MS
            put_call(h.call, c)
            event(h.queue, h.call, agent_id, 'OFFER', { reservation })
            notice({ notice = 'offer', unit = unit, queue = h.queue, call = h.call, node = c.node,
              agent = agent_id, reservation = reservation, ring_timeout_ms = q.ring_timeout_ms,
              offered_at = now })
          end
          offered = true
          break
        end
      end
    end
    if not offered then return end
  end
end

-- Callers of queues left without any logged-in agent leave them.
local function after_logout_check()
  for _, queue in ipairs(queue_names) do
    local q = config.queues[queue]
    local any = false
    for _, m in ipairs(q.members) do
      local a = get_agent(m.agent)
      if a and a.state ~= 'logged_out' then any = true break end
    end
    if not any then
      local members = redis.call('ZRANGE', waiting_key[queue], 0, -1, 'WITHSCORES')
      for i = 1, #members, 2 do
        local id, score = members[i], tonumber(members[i + 1])
        local c = get_call(id)
        if c then
          local position = rank(queue, score)
          remove_call(id)
          event(queue, id, 'NONE', 'EXITEMPTY', { istr(position), '1', secs(math.max(0, now - c.enqueued_at)) })
          notice({ notice = 'no_agents', unit = unit, queue = queue, call = id, node = c.node })
        end
      end
    end
  end
end

-- The agent of `reservation` did not take the call (model: offer_failed).
local function offer_failed(reservation, failure)
  local agent_id, call_id = reserved_by(reservation)
  if not agent_id then return end
  local c = get_call(call_id)
  if not c then return end
  local kept = {}
  for _, o in ipairs(c.offers) do
    if o.reservation ~= reservation then table.insert(kept, o) end
  end
  c.offers = kept
  put_call(call_id, c)
  local q = queue_config(c.queue)
  local delay = q.no_answer_delay_ms
  if failure == 'busy' then delay = q.busy_delay_ms elseif failure == 'rejected' then delay = q.reject_delay_ms end
  event(c.queue, call_id, agent_id, 'RINGNOANSWER', { istr(q.ring_timeout_ms) })
  local logged_out = release(agent_id, reservation, delay)
  if failure ~= 'busy' then
    local a = get_agent(agent_id)
    a.misses = a.misses + 1
    if a.state == 'available' and q.max_misses > 0 and a.misses >= q.max_misses then
      local reason = 'missed ' .. istr(a.misses) .. ' calls'
      a.state = 'paused'
      a.since = now
      a.reason = reason
      event('NONE', 'NONE', agent_id, 'PAUSE', { reason })
    end
    put_agent(agent_id, a)
  end
  if logged_out then after_logout_check() end
  match_unit()
end

-- The agent's call `call` ended (model: call_ended).
local function call_ended(agent_id, call, by_agent)
  local agent_wrap = nil
  for _, ac in ipairs(config.agents) do
    if ac.id == agent_id and present(ac.wrap_up_ms) then agent_wrap = ac.wrap_up_ms end
  end
  local a = get_agent(agent_id)
  if not a or a.state ~= 'on_call' or a.call ~= call then return end
  local queue = a.queue or ''
  local talk = math.max(0, now - (a.call_started or 0))
  if a.answered then redis.call('HDEL', K_RESERVATIONS, a.answered) end
  a.talk_ms = a.talk_ms + talk
  a.idle_since = now
  a.call = nil
  a.node = nil
  a.queue = nil
  a.answered = nil
  local wrap = agent_wrap
  if wrap == nil then
    local q = config.queues[queue]
    wrap = q and q.wrap_up_ms or 0
  end
  local name = 'COMPLETECALLER'
  if by_agent then name = 'COMPLETEAGENT' end
  event(queue, call, agent_id, name, { '0', secs(talk), '1' })
  a.since = now
  if wrap > 0 then
    a.state = 'wrap_up'
    a.wrap_until = now + wrap
  else
    a.state = 'available'
  end
  apply_pending(agent_id, a)
  put_agent(agent_id, a)
  after_logout_check()
  match_unit()
end

-- ----- the end of every script -----

local function finish(result)
  for id, _ in pairs(agents_dirty) do
    local a = agents[id]
    redis.call('HSET', K_AGENTS, id, cjson.encode(a))
    if a.state == 'available' then
      redis.call('SADD', K_AVAILABLE, id)
    else
      redis.call('SREM', K_AVAILABLE, id)
    end
    set_deadline('a:' .. id, agent_deadline(a))
  end
  for id, _ in pairs(calls_gone) do
    redis.call('HDEL', K_CALLS, id)
    redis.call('ZREM', K_UNOFFERED, id)
    set_deadline('c:' .. id, nil)
  end
  for id, _ in pairs(calls_dirty) do
    local c = calls[id]
    if c then
      redis.call('HSET', K_CALLS, id, cjson.encode(c))
      if #c.offers == 0 then
        redis.call('ZADD', K_UNOFFERED, istr(c.score), id)
      else
        redis.call('ZREM', K_UNOFFERED, id)
      end
      set_deadline('c:' .. id, call_deadline(c))
    end
  end
  for _, e in ipairs(fx.events) do
    -- About cc_acd::EVENTS_KEPT events are kept.
    redis.call('XADD', K_EVENTS, 'MAXLEN', '~', '100000', '*', 'event', cjson.encode(e))
  end
  for _, n in ipairs(fx.notices) do
    redis.call('PUBLISH', 'cc:node:' .. n.node, cjson.encode(n))
  end
  local next_tick = nil
  local first = redis.call('ZRANGE', K_DEADLINES, 0, 0, 'WITHSCORES')
  if #first > 0 then next_tick = math.max(tonumber(first[2]), now) end
  return cjson.encode({ result = result, notices = fx.notices, events = fx.events, next_tick = next_tick })
end
