#pragma once

#include <string>

#include "core/status.h"

namespace httplib {
class Server;
}

namespace streamrec::http {

// Splits "HOST:PORT" or "[IPV6]:PORT" (port 0..65535). InvalidArgument names the text.
Status ParseHostPort(const std::string& text, std::string* host, int* port);

// Binds `server` to host:port (port 0 picks a free one) so that a busy port is an error:
// cpp-httplib 0.11 sets SO_REUSEPORT by default, which lets a second process bind the
// same port and silently take half of the connections. Here only SO_REUSEADDR is set
// (a restart may rebind while old connections sit in TIME_WAIT). Returns the bound port,
// or Unavailable naming the address and the reason. Call before listen_after_bind().
Result<int> BindExclusive(httplib::Server* server, const std::string& host, int port);

}  // namespace streamrec::http
