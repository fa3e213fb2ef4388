-- wrk script: SOAP 1.1 POSTs to /ws/bench. Usage:
--   wrk ... -s bench/soap/soap_post.lua URL -- <n>:<ops|xpath|http>
-- ops:   the Body's element is Op<i> (one mock per operation), i random
--        in 0 .. n-1, five digits (Op00042) as bench/soap/soap_mocks.py
--        writes them: one mock and 10,000 are asked the same bytes
-- xpath: the Body's element is always Get, its <b:id> is i (five digits; one mock per
--        id, told apart by an XPath condition)
-- http:  a JSON POST to /orders with {"kind": "k<i>"} (plain HTTP mocks)
local n, mode = 1, "ops"
local bodies = {}
local soap_headers = { ["Content-Type"] = "text/xml; charset=utf-8",
                       ["SOAPAction"] = '"urn:bench"' }
local json_headers = { ["Content-Type"] = "application/json" }

local function envelope(inner)
   return '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
      .. '<s:Body>' .. inner .. '</s:Body></s:Envelope>'
end

function init(args)
   -- one argument "<n>:<mode>" (bench_wrk passes one), or two
   local a, b = (args[1] or ""):match("^(%d+):(%a+)$")
   n = tonumber(a or args[1]) or 1
   mode = b or args[2] or "ops"
   for i = 0, n - 1 do
      if mode == "ops" then
         local d = string.format("%05d", i)
         bodies[i] = envelope('<b:Op' .. d .. ' xmlns:b="urn:bench"><b:id>' .. d
                              .. '</b:id></b:Op' .. d .. '>')
      elseif mode == "xpath" then
         bodies[i] = envelope('<b:Get xmlns:b="urn:bench"><b:id>'
                              .. string.format("%05d", i) .. '</b:id></b:Get>')
      else
         bodies[i] = '{"kind":"k' .. i .. '","amount":12.5}'
      end
   end
   math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
   local b = bodies[math.random(0, n - 1)]
   if mode == "http" then
      return wrk.format("POST", "/orders", json_headers, b)
   end
   return wrk.format("POST", "/ws/bench", soap_headers, b)
end
