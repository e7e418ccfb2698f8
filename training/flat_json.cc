#include "training/flat_json.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/json_writer.h"

namespace streamrec::training {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}
  void SkipWs() {
    while (i_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[i_]))) ++i_;
  }
  bool Eat(char c) {
    SkipWs();
    if (i_ < t_.size() && t_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    SkipWs();
    return i_ == t_.size();
  }
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    out->clear();
    while (i_ < t_.size()) {
      char c = t_[i_++];
      if (c == '"') return true;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (i_ >= t_.size()) return false;
      char e = t_[i_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'n': out->push_back('\n'); break;
        case 't': out->push_back('\t'); break;
        case 'r': out->push_back('\r'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'u': {
          if (i_ + 4 > t_.size()) return false;
          unsigned v = std::strtoul(std::string(t_.substr(i_, 4)).c_str(), nullptr, 16);
          i_ += 4;
          if (v >= 0x80) return false;  // manifests are ASCII
          out->push_back(static_cast<char>(v));
          break;
        }
        default: return false;
      }
    }
    return false;
  }
  bool Literal(std::string* out) {
    SkipWs();
    size_t start = i_;
    while (i_ < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[i_])) || t_[i_] == '-' ||
                              t_[i_] == '+' || t_[i_] == '.')) {
      ++i_;
    }
    *out = std::string(t_.substr(start, i_ - start));
    return !out->empty();
  }
  char Peek() {
    SkipWs();
    return i_ < t_.size() ? t_[i_] : '\0';
  }

 private:
  std::string_view t_;
  size_t i_ = 0;
};

}  // namespace

void FlatJson::SetString(const std::string& key, const std::string& value) {
  values_[key] = {Value::Kind::kString, value};
}
void FlatJson::SetInt(const std::string& key, int64_t value) {
  values_[key] = {Value::Kind::kNumber, std::to_string(value)};
}
void FlatJson::SetDouble(const std::string& key, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  values_[key] = {Value::Kind::kNumber, buf};
}
void FlatJson::SetBool(const std::string& key, bool value) {
  values_[key] = {Value::Kind::kBool, value ? "true" : "false"};
}

Result<std::string> FlatJson::GetString(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return Status::NotFound("missing key " + key);
  if (it->second.kind != Value::Kind::kString) {
    return Status::InvalidArgument(key + " is not a string");
  }
  return it->second.text;
}

Result<int64_t> FlatJson::GetInt(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return Status::NotFound("missing key " + key);
  char* end = nullptr;
  long long v = std::strtoll(it->second.text.c_str(), &end, 10);
  if (it->second.kind != Value::Kind::kNumber || *end != '\0') {
    return Status::InvalidArgument(key + " is not an integer");
  }
  return static_cast<int64_t>(v);
}

Result<double> FlatJson::GetDouble(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return Status::NotFound("missing key " + key);
  char* end = nullptr;
  double v = std::strtod(it->second.text.c_str(), &end);
  if (it->second.kind != Value::Kind::kNumber || *end != '\0') {
    return Status::InvalidArgument(key + " is not a number");
  }
  return v;
}

Result<bool> FlatJson::GetBool(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return Status::NotFound("missing key " + key);
  if (it->second.kind != Value::Kind::kBool) return Status::InvalidArgument(key + " is not a bool");
  return it->second.text == "true";
}

std::string FlatJson::Serialize() const {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : values_) {
    if (!first) out += ",";
    first = false;
    AppendJsonString(&out, key);
    out += ":";
    if (value.kind == Value::Kind::kString) {
      AppendJsonString(&out, value.text);
    } else {
      out += value.text;
    }
  }
  out += "}";
  return out;
}

Result<FlatJson> FlatJson::Parse(std::string_view text) {
  Parser p(text);
  FlatJson out;
  if (!p.Eat('{')) return Status::InvalidArgument("expected a JSON object");
  if (p.Eat('}')) {
    if (!p.AtEnd()) return Status::InvalidArgument("trailing characters after JSON object");
    return out;
  }
  while (true) {
    std::string key;
    if (!p.String(&key)) return Status::InvalidArgument("expected a string key");
    if (!p.Eat(':')) return Status::InvalidArgument("expected ':' after " + key);
    Value v;
    if (p.Peek() == '"') {
      v.kind = Value::Kind::kString;
      if (!p.String(&v.text)) return Status::InvalidArgument("bad string value of " + key);
    } else {
      if (!p.Literal(&v.text)) return Status::InvalidArgument("bad value of " + key);
      if (v.text == "true" || v.text == "false") {
        v.kind = Value::Kind::kBool;
      } else {
        char* end = nullptr;
        double d = std::strtod(v.text.c_str(), &end);
        if (*end != '\0' || !std::isfinite(d)) {
          return Status::InvalidArgument("bad value of " + key);
        }
        v.kind = Value::Kind::kNumber;
      }
    }
    out.values_[key] = std::move(v);
    if (p.Eat(',')) continue;
    if (p.Eat('}')) break;
    return Status::InvalidArgument("expected ',' or '}'");
  }
  if (!p.AtEnd()) return Status::InvalidArgument("trailing characters after JSON object");
  return out;
}

}  // namespace streamrec::training
