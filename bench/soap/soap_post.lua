-- wrk script: SOAP 1.1 GetAccount calls to /ws/account whose accountId is
-- picked uniformly at random among acct-0 .. acct-<n-1> (one mock each).
-- Usage: wrk ... -s bench/soap/soap_post.lua URL -- <n>
local n = 1
local bodies = {}
local headers = {
   ["Content-Type"] = "text/xml; charset=utf-8",
   ["SOAPAction"] = '"urn:bench:account/GetAccount"',
}

function init(args)
   n = tonumber(args[1]) or 1
   for i = 0, n - 1 do
      bodies[i] = '<?xml version="1.0" encoding="UTF-8"?>' ..
         '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"' ..
         ' xmlns:acc="urn:bench:account"><soap:Body><acc:GetAccount>' ..
         '<acc:accountId>acct-' .. i .. '</acc:accountId>' ..
         '</acc:GetAccount></soap:Body></soap:Envelope>'
   end
   math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
   return wrk.format("POST", "/ws/account", headers, bodies[math.random(0, n - 1)])
end
