#include "core/id_hash.h"

#include <xxhash.h>

namespace streamrec {

uint64_t HashId(std::string_view id) { return XXH3_64bits_withSeed(id.data(), id.size(), kIdHashSeed); }

}  // namespace streamrec
