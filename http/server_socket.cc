#include "http/server_socket.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <httplib.h>

namespace streamrec::http {

Status ParseHostPort(const std::string& text, std::string* host, int* port) {
  std::string h;
  std::string p;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Status::InvalidArgument("expected [HOST]:PORT, got '" + text + "'");
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      return Status::InvalidArgument("expected HOST:PORT, got '" + text + "'");
    }
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
  }
  if (h.empty()) return Status::InvalidArgument("empty host in '" + text + "'");
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument("bad port in '" + text + "'");
  }
  const int n = std::stoi(p);
  if (n > 65535) return Status::InvalidArgument("port out of range in '" + text + "'");
  *host = h;
  *port = n;
  return Status::Ok();
}

Result<int> BindExclusive(httplib::Server* server, const std::string& host, int port) {
  server->set_socket_options([](int sock) {  // socket_t is int on POSIX
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  const std::string address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                              ":" + std::to_string(port);
  errno = 0;
  int bound = -1;
  if (port == 0) {
    bound = server->bind_to_any_port(host);
  } else if (server->bind_to_port(host, port)) {
    bound = port;
  }
  if (bound < 0) {
    const int err = errno;
    std::string why = err == EADDRINUSE ? "the address is already in use"
                      : err != 0       ? std::strerror(err)
                                       : "cannot bind";
    return Status::Unavailable("cannot listen on " + address + ": " + why);
  }
  return bound;
}

}  // namespace streamrec::http
