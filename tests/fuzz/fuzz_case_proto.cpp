// libFuzzer target: the decoded request path of the service. The bytes are a serialized
// mhcverify.v1.CaseRef (what RunCase and RunSweep carry per case); server case_from_proto turns it
// into a CaseSpec or an Error(invalid_input) naming the field, exactly as the RPC handlers do.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "server/service.hpp"

namespace {
// Invalid UTF-8 in a string field is logged by protobuf before ParseFromArray fails; the fuzzer
// produces millions of those.
const bool quiet_protobuf = (google::protobuf::SetLogHandler(nullptr), true);
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mhc;
  server::pb::CaseRef ref;
  if (!ref.ParseFromArray(data, static_cast<int>(size))) return 0;  // gRPC rejects it before us
  try {
    const auto spec = server::case_from_proto(ref, "case_ref", std::uint64_t{1} << 26);
    if (spec.shape.T < 0 || spec.shape.n < 1 || spec.shape.C < 1) std::abort();  // T = 0 is a valid empty batch
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::invalid_input) std::abort();
    if (std::string(e.what()).rfind("case_ref", 0) != 0) std::abort();  // the field is named first
  }
  return 0;
}
