// libFuzzer target for the JT/T 808 decoder: the byte stream a terminal could send, through the
// Deframer, DecodeFrame, the Reassembler and every body parser the gateway uses. Any crash,
// sanitizer report or hang is a bug (bad input must only give an error).
//   clang++ build: cmake -DCMAKE_CXX_COMPILER=clang++ ... && build/fuzz/jt808_frame_fuzz corpus/
#include <cstddef>
#include <cstdint>

#include "services/jt808/codec.h"
#include "services/jt808/messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smartbus::jt808;
  Deframer deframer;
  Reassembler reassembler(4);
  auto on_frame = [&](absl::Span<const uint8_t> content) {
    Frame f;
    if (!DecodeFrame(content, &f).ok()) return;
    absl::StatusOr<Frame> whole = reassembler.Add(std::move(f));
    if (!whole.ok()) return;
    const Bytes& b = whole->body;
    (void)ParseLocation(b);
    (void)ParseBatch(b);
    (void)ParseRegister(b, whole->header.v2019);
    (void)ParseAuthenticate(b, whole->header.v2019);
    (void)ParseGeneralResponse(b);
    (void)ParseRegisterResponse(b);
  };
  // The input as a stream (with a leading flag so a frame can start at byte 0), and as one frame
  // content on its own.
  const uint8_t flag = kFlag;
  deframer.Feed(absl::MakeConstSpan(&flag, 1), on_frame);
  deframer.Feed(absl::MakeConstSpan(data, size), on_frame);
  deframer.Feed(absl::MakeConstSpan(&flag, 1), on_frame);
  on_frame(absl::MakeConstSpan(data, size));
  return 0;
}
