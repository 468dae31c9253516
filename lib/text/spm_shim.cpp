// The only code that links libsentencepiece. It is built as its own shared module and loaded with
// dlmopen into a namespace of its own: Debian's libsentencepiece carries its own copy of
// protobuf-lite, whose exported symbols collide with the full libprotobuf that libtorch loads
// (linking both into one program crashes in protobuf's static initialisers). Loaded this way, each
// keeps its own protobuf. The interface is plain C so nothing C++ crosses the boundary.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

void set_error(char* err, size_t len, const std::string& what) {
  if (!err || !len) return;
  std::strncpy(err, what.c_str(), len - 1);
  err[len - 1] = '\0';
}

}  // namespace

extern "C" {

void* vrwkv_spm_load(const char* path, char* err, size_t err_len) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  const auto status = sp->Load(path);
  if (!status.ok()) {
    set_error(err, err_len, status.ToString());
    delete sp;
    return nullptr;
  }
  return sp;
}

void vrwkv_spm_free(void* handle) { delete static_cast<sentencepiece::SentencePieceProcessor*>(handle); }

int64_t vrwkv_spm_vocab_size(void* handle) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(handle)->GetPieceSize();
}

// Writes up to `capacity` ids; returns how many there are (call again with more room if larger),
// or -1 with `err` set.
int64_t vrwkv_spm_encode(void* handle, const char* text, size_t text_len, int64_t* out, int64_t capacity, char* err,
                         size_t err_len) {
  std::vector<int> ids;
  const auto status =
      static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Encode(std::string(text, text_len), &ids);
  if (!status.ok()) {
    set_error(err, err_len, status.ToString());
    return -1;
  }
  for (int64_t i = 0; i < static_cast<int64_t>(ids.size()) && i < capacity; ++i) out[i] = ids[i];
  return static_cast<int64_t>(ids.size());
}

// Writes up to `capacity` bytes; returns the decoded length, or -1 with `err` set.
int64_t vrwkv_spm_decode(void* handle, const int64_t* ids, int64_t n, char* out, int64_t capacity, char* err,
                         size_t err_len) {
  std::vector<int> small(ids, ids + n);
  std::string text;
  const auto status = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Decode(small, &text);
  if (!status.ok()) {
    set_error(err, err_len, status.ToString());
    return -1;
  }
  std::memcpy(out, text.data(), std::min<size_t>(text.size(), static_cast<size_t>(capacity)));
  return static_cast<int64_t>(text.size());
}

// Trains a model with sentencepiece's command-line style arguments; 0 on success.
int vrwkv_spm_train(const char* args, char* err, size_t err_len) {
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (!status.ok()) {
    set_error(err, err_len, status.ToString());
    return 1;
  }
  return 0;
}

}  // extern "C"
