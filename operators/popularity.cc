#include "operators/popularity.h"

#include "core/byte_codec.h"

namespace streamrec::operators {

std::string DecayedCount::Serialize() const {
  ByteWriter w;
  w.Put<double>(value_);
  w.Put<int64_t>(ts_ms_);
  return w.Take();
}

Result<DecayedCount> DecayedCount::Parse(std::string_view bytes) {
  ByteReader r(bytes);
  double v = 0;
  int64_t ts = 0;
  if (!r.Get(&v) || !r.Get(&ts) || !r.AtEnd()) return Status::Corruption("decayed count: bad encoding");
  return DecayedCount(v, ts);
}

}  // namespace streamrec::operators
