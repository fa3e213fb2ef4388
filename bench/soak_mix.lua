-- wrk script for bench/soak.sh: a mix that fills every bounded structure.
-- 60% GET hits on /m/<0..n-1>, 30% GET misses on unique paths (the
-- unmatched ring with near misses), 10% POST hits with a 1 KiB body (journal
-- entries with bodies). Usage: wrk ... -s bench/soak_mix.lua URL -- <n>
local n = 1000
local counter = 0
local body = string.rep("x", 1024)
local headers = { ["Content-Type"] = "text/plain" }

function init(args)
   n = tonumber(args[1]) or 1000
   math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
   counter = counter + 1
   local r = math.random(1, 10)
   if r <= 6 then
      return wrk.format("GET", "/m/" .. math.random(0, n - 1))
   elseif r <= 9 then
      return wrk.format("GET", "/miss/" .. counter .. "/" .. math.random(0, 1e9))
   else
      return wrk.format("POST", "/m/" .. math.random(0, n - 1), headers, body)
   end
end
