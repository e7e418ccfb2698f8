#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace streamrec::http {

// Why a request was refused before its body was read: the HTTP status and a message.
struct BodyRefusal {
  int http_status = 0;
  std::string message;
};

// Checks a request's framing before any of its body is read. cpp-httplib 0.11 applies
// its payload limit to a declared Content-Length only: it reads a chunked body, or a
// POST/PUT/PATCH/DELETE body without Content-Length (until the client closes), whole into
// memory. Call it from a server's pre-routing handler, which runs after the headers and
// before the body. Refuses:
//   - a declared Content-Length above 8 × `max_body_bytes` (413), at once rather than
//     after reading and discarding it (a smaller excess is read, discarded and answered
//     413 by httplib, so a client that sends its body before reading gets the answer);
//   - a chunked body unless `chunked_allowed` (the route then reads it through a capped
//     ContentReader, see ReadBodyCapped) (411);
//   - a body-carrying method with neither Content-Length nor chunked framing (411).
// Returns nothing when the request may go on. Thread-safe (pure).
std::optional<BodyRefusal> CheckRequestBody(const httplib::Request& req, size_t max_body_bytes,
                                            bool chunked_allowed);

// Answers `status` with `body` and makes cpp-httplib drop the connection once the answer is
// written. A "Connection: close" header alone does not: the server would go on parsing
// the unread body as the next request, and a client that ignores the header would keep
// the connection (and its thread).
void AnswerAndClose(httplib::Response& res, int status, std::string body,
                    const std::string& content_type);

}  // namespace streamrec::http
