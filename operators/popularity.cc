#include "operators/popularity.h"

#include "state/encoding.h"

namespace streamrec::operators {

std::string DecayedCount::Serialize() const {
  state::ByteWriter w;
  w.F64(value_);
  w.I64(ts_ms_);
  return w.Take();
}

Result<DecayedCount> DecayedCount::Parse(std::string_view bytes) {
  state::ByteReader r(bytes);
  double v = 0;
  int64_t ts = 0;
  if (!r.F64(&v) || !r.I64(&ts) || !r.done()) return Status::Corruption("decayed count: bad encoding");
  return DecayedCount(v, ts);
}

}  // namespace streamrec::operators
