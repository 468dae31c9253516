// Encoding throughput of the World tokenizer on one thread: bench_tokenizer [VOCAB_FILE].
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "text/world_tokenizer.h"

namespace {

// A few MB mixing the kinds of text training data holds, so no single trie path dominates.
std::string mixed_text(std::size_t target_bytes) {
  const char* pieces[] = {
      "User: What is in the image?\n\nAssistant: A brown dog is running across a green field "
      "while a child throws a red ball. The sky is clear and the grass looks freshly cut.\n\n",
      "The quick brown fox jumps over the lazy dog. Visual language models combine an image "
      "encoder with a language model to answer questions about pictures.\n",
      "图片中有一只猫坐在窗台上，阳光照在它的身上。它看起来很放松，正在看着窗外的小鸟。\n",
      "これは日本語のテキストです。画像の中に犬と猫がいます。\n",
      "Это пример русского текста для проверки токенизатора.\n",
      "def forward(self, x):\n    for block in self.blocks:\n        x = block(x)  # residual\n"
      "    return self.head(self.ln_out(x))\n\n",
      "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}\n",
      "😀 emoji 🚀🎉 👍🏽 ❤️ 🐱\n",
      "          indented          with   runs   of    spaces\n\n\n\n\t\t\t\n",
      "Numbers 3.14159 2718281828 1,000,000 and URLs https://example.com/path?q=1&r=2\n",
  };
  std::string text;
  text.reserve(target_bytes + 1024);
  for (std::size_t i = 0; text.size() < target_bytes; ++i)
    text += pieces[(i * 7 + i / 10) % (sizeof(pieces) / sizeof(pieces[0]))];
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string vocab = argc > 1 ? argv[1] : "/work/shared/data/rwkv_vocab_v20230424.txt";
  try {
    using Clock = std::chrono::steady_clock;
    const auto t_load = Clock::now();
    const vrwkv::text::WorldTokenizer tok(vocab);
    const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();

    const std::string text = mixed_text(4u << 20);
    if (tok.decode(tok.encode(text)) != text) {
      std::fprintf(stderr, "error: round trip failed\n");
      return 1;
    }
    std::size_t bytes = 0, tokens = 0;
    int runs = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    while (elapsed < 2.0) {
      const auto ids = tok.encode(text);
      bytes += text.size();
      tokens += ids.size();
      ++runs;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    std::printf("vocab load: %.3f s\n", load_s);
    std::printf("text: %.2f MB, %d runs in %.2f s\n", text.size() / 1e6, runs, elapsed);
    std::printf("encode: %.1f MB/s, %.2f M tokens/s (%.2f bytes/token)\n", bytes / elapsed / 1e6,
                tokens / elapsed / 1e6, static_cast<double>(bytes) / tokens);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
