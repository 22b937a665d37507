package redisrate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatekit/gatekit/ratelimit"
)

// decideScript makes one decision for one key against all of a limiter's
// policies, atomically, on Redis's clock. The policies are GCRA buckets,
// as in ratelimit.Limiter: each holds a theoretical arrival time (TAT) in
// microseconds of Redis's TIME; a bucket is full when its TAT is not
// after now, and a request fits when TAT + interval - tau <= now.
//
// KEYS[1] is the key's bucket hash: field i holds policy i's TAT, field
// "s" the rejections in a row (for the penalty). KEYS[2] exists only
// while the key is blocked and holds the block's end. Both carry a TTL:
// the buckets until they are full again (then they carry nothing), the
// block until it ends.
//
// ARGV: 1 queue (1: reserve a future token instead of rejecting), 2 the
// longest wait for a reserved token (µs), 3 the most reservations ahead
// of this one, 4 rejections before a block (0: no penalty), 5 the block's
// length (µs), 6 dry run (1: admit what is over the limit, take nothing),
// then per policy its interval and tau (burst × interval), in µs.
//
// It returns {allowed, outcome, retry (µs), remaining, reset (µs),
// policy (0-based)}, outcome being one of the out* constants.
const decideScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local queue, maxwait, maxq = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
local blockafter, blockfor, dry = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1'
local n = (#ARGV - 6) / 2
local iv, tau, fields = {}, {}, {}
for i = 1, n do
  iv[i] = tonumber(ARGV[5 + 2 * i])
  tau[i] = tonumber(ARGV[6 + 2 * i])
  fields[i] = tostring(i)
end
local st = redis.call('HMGET', KEYS[1], 's', unpack(fields))
local strikes = tonumber(st[1]) or 0
local tat = {}
for i = 1, n do
  tat[i] = math.max(tonumber(st[i + 1]) or now, now)
end

-- the policy with the fewest tokens left: its index, tokens and time to the next
local function worst()
  local wi, wr, wt = 1, -1, 0
  for i = 1, n do
    local x = tat[i] - now
    local r, rs = math.floor(tau[i] / iv[i]), 0
    if x > 0 then
      r = math.max(math.floor((tau[i] - x) / iv[i]), 0)
      rs = x % iv[i]
      if rs == 0 then rs = iv[i] end
    end
    if wr < 0 or r < wr then wi, wr, wt = i, r, rs end
  end
  return wi, wr, wt
end

local function save()
  local args, far = {}, now
  for i = 1, n do
    args[#args + 1] = fields[i]
    args[#args + 1] = string.format('%.0f', tat[i])
    far = math.max(far, tat[i])
  end
  args[#args + 1] = 's'
  args[#args + 1] = tostring(strikes)
  redis.call('HSET', KEYS[1], unpack(args))
  redis.call('PEXPIRE', KEYS[1], math.floor((far - now) / 1000) + 1)
end

local function take()
  for i = 1, n do tat[i] = tat[i] + iv[i] end
  strikes = 0
  save()
end

local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then
  local wi, wr, wt = worst()
  if dry then return {1, 2, blocked - now, wr, wt, wi - 1} end
  return {0, 2, blocked - now, 0, blocked - now, wi - 1}
end

local wait, pi = 0, 1
for i = 1, n do
  local w = tat[i] + iv[i] - tau[i] - now
  if w > wait then wait, pi = w, i end
end
if wait <= 0 then
  take()
  local wi, wr, wt = worst()
  return {1, 0, 0, wr, wt, wi - 1}
end

local outcome = 1
if queue and not dry then
  if math.ceil(wait / iv[pi]) - 1 >= maxq then
    outcome = 3
  elseif wait > maxwait then
    outcome = 4
  else
    take()
    return {1, 5, wait, 0, wait, pi - 1}
  end
end
if dry then
  local wi, wr, wt = worst()
  return {1, outcome, wait, wr, wt, pi - 1}
end
strikes = strikes + 1
local retry = wait
if blockafter > 0 and strikes >= blockafter then
  strikes = 0
  redis.call('SET', KEYS[2], string.format('%.0f', now + blockfor), 'PX', math.ceil(blockfor / 1000))
  outcome, retry = 2, math.max(wait, blockfor)
end
save()
return {0, outcome, retry, 0, retry, pi - 1}
`

// refundScript gives back one token of every policy of KEYS[1], never
// above a full bucket. ARGV holds the policies' intervals in µs.
const refundScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #ARGV do
  local v = tonumber(redis.call('HGET', KEYS[1], tostring(i)))
  if v then
    redis.call('HSET', KEYS[1], tostring(i), string.format('%.0f', math.max(v - tonumber(ARGV[i]), now)))
  end
end
return 0
`

// Outcomes of decideScript.
const (
	outAdmitted  = 0 // a token was taken
	outLimited   = 1 // over a rate policy
	outBlocked   = 2 // in (or just put in) a penalty block
	outQueueFull = 3 // too many reservations ahead
	outMaxWait   = 4 // the reserved token would come too late
	outQueued    = 5 // a future token was reserved: wait for it
)

// scripts are the two Lua scripts. redis.Script.Run sends EVALSHA and, if
// the server answers NOSCRIPT (after a restart, a SCRIPT FLUSH or a
// failover to a node that never saw it), EVAL with the source, which also
// loads it for the next EVALSHA: each script travels once per server.
type scripts struct {
	decide, refund *redis.Script
}

func newScripts() scripts {
	return scripts{decide: redis.NewScript(decideScript), refund: redis.NewScript(refundScript)}
}

// outcome is what decideScript returned, in Go units.
type outcome struct {
	allowed   bool
	kind      int64
	retry     time.Duration
	remaining int
	reset     time.Duration
	policy    int
}

// decideArgs returns decideScript's arguments; maxWait is the longest
// wait a reservation may have.
func (l *Limiter) decideArgs(maxWait time.Duration) []any {
	args := make([]any, 0, len(l.args)+2)
	queue := "0"
	if l.cfg.Limit.Mode == ratelimit.Queue {
		queue = "1"
	}
	args = append(args, queue, strconv.FormatInt(maxWait.Microseconds(), 10))
	return append(args, l.args...)
}

// run calls decideScript for the key names ks.
func (l *Limiter) run(ctx context.Context, ks [2]string, args []any) (outcome, error) {
	return parseOutcome(l.scripts.decide.Run(ctx, l.client, ks[:], args...).Int64Slice())
}

// parseOutcome converts decideScript's reply.
func parseOutcome(res []int64, err error) (outcome, error) {
	if err != nil {
		return outcome{}, err
	}
	if len(res) != 6 {
		return outcome{}, fmt.Errorf("redisrate: decision script returned %d values, want 6", len(res))
	}
	return outcome{allowed: res[0] == 1, kind: res[1], retry: time.Duration(res[2]) * time.Microsecond,
		remaining: int(res[3]), reset: time.Duration(res[4]) * time.Microsecond, policy: int(res[5])}, nil
}
