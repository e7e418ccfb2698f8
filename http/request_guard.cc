#include "http/request_guard.h"

#include <strings.h>

#include <cstdint>
#include <memory>

#include <httplib.h>

namespace streamrec::http {
namespace {

bool CarriesBody(const std::string& method) {
  // The methods cpp-httplib 0.11 reads a body for (its detail::expect_content).
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" ||
         method == "PRI";
}

}  // namespace

std::optional<BodyRefusal> CheckRequestBody(const httplib::Request& req, size_t max_body_bytes,
                                            bool chunked_allowed) {
  if (req.has_header("Transfer-Encoding")) {
    // httplib decodes "chunked" only; any other coding it would read until the client
    // closes.
    if (strcasecmp(req.get_header_value("Transfer-Encoding").c_str(), "chunked") != 0) {
      return BodyRefusal{501, "Transfer-Encoding '" + req.get_header_value("Transfer-Encoding") +
                                  "' is not supported; send chunked or a Content-Length"};
    }
    if (chunked_allowed) return std::nullopt;
    return BodyRefusal{411, "a chunked body is not accepted on " + req.method + " " + req.path +
                                "; send a Content-Length"};
  }
  if (req.has_header("Content-Length")) {
    const std::string text = req.get_header_value("Content-Length");
    bool digits = !text.empty() && text.size() <= 19;
    for (char ch : text) digits = digits && ch >= '0' && ch <= '9';
    if (!digits) return BodyRefusal{400, "Content-Length '" + text + "' is not a byte count"};
    // Up to kDiscardFactor times the limit, httplib reads and discards the body and then
    // answers 413, so a client that writes its whole body before reading gets the answer
    // (refused at once, it would meet a closed socket: EPIPE). Beyond, it is refused
    // unread.
    constexpr uint64_t kDiscardFactor = 8;
    const uint64_t length = std::stoull(text);
    if (length / kDiscardFactor > max_body_bytes) {
      return BodyRefusal{413, "request body of " + text + " bytes is over the limit of " +
                                  std::to_string(max_body_bytes) + " bytes"};
    }
    return std::nullopt;
  }
  if (CarriesBody(req.method)) {
    return BodyRefusal{411, req.method + " needs a Content-Length (or chunked framing where "
                                         "the route accepts it)"};
  }
  return std::nullopt;
}

void AnswerAndClose(httplib::Response& res, int status, std::string body,
                    const std::string& content_type) {
  auto shared = std::make_shared<std::string>(std::move(body));
  res.status = status;
  res.set_header("Connection", "close");
  // A content provider that reports failure once it has written everything: httplib then
  // ends the connection instead of reading the next request from it.
  res.set_content_provider(shared->size(), content_type,
                           [shared](size_t offset, size_t length, httplib::DataSink& sink) {
                             sink.write(shared->data() + offset, length);
                             return false;
                           });
}

}  // namespace streamrec::http
