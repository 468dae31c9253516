#include "config/run_config.h"

#include <fstream>

#include "base/error.h"

namespace vrwkv {

using namespace config;

const Field& run_config_schema() {
  static const Field schema = object("", "", {
      object("model", "model sizes (SPEC section 1) and how the image span is read", {
          integer("n_layer", 24, "RWKV blocks", 1),
          integer("n_embd", 2048, "model width C", 1),
          integer("dim_att", 0, "attention width (0: n_embd)", 0),
          integer("dim_ffn", 0, "channel-mix width (0: floor(n_embd * 3.5 / 32) * 32)", 0),
          integer("head_size", 64, "channels per WKV head", 1),
          integer("vocab_size", 65536, "vocabulary size", 1),
          integer("d_mix", 0, "ddlerp LoRA width (0: 32, or 64 when n_embd >= 4096)", 0),
          integer("d_decay", 0, "decay LoRA width (0: 64, or 128 when n_embd >= 4096)", 0),
          integer("grid_size", -1, "image token pooling: -1 all patches + cls, 0 cls, 1 mean + cls, g > 1 g x g grid", -1),
          string("scan_mode", "bi", "order the image span is read in per block", {"uni", "bi", "multi"}),
          object("vision", "the CLIP vision tower", {
              integer("hidden_size", 1024, "vision width", 1),
              integer("intermediate_size", 4096, "vision MLP width", 1),
              integer("num_hidden_layers", 24, "vision encoder layers", 1),
              integer("num_attention_heads", 16, "vision attention heads", 1),
              integer("image_size", 336, "input side in pixels", 1),
              integer("patch_size", 14, "patch side in pixels", 1),
              number("layer_norm_eps", 1e-5, "LayerNorm epsilon", 0),
          }),
      }),
      object("tokenizer", "how text becomes ids", {
          string("kind", "world", "tokenizer family", {"world", "sentencepiece"}),
          string("path", nullptr, "the vocabulary file (World) or model file (sentencepiece)"),
      }),
      object("data", "the training data", {
          string("file", "", "LLaVA-format JSON array or JSON Lines file"),
          string("image_folder", "", "folder the samples' image paths are relative to"),
          string("prompt_style", "image_first", "where the image goes in the prompt",
                 {"image_first", "image_last", "sandwich"}),
          integer("ctx_len", 1024, "sequence length after assembly (truncation rule of SPEC section 5)", 1),
          boolean("drop_empty_replies", false, "drop rounds whose gpt reply is empty or missing"),
          number("max_skip_fraction", 0.01, "stop the job when a larger fraction of samples is bad", 0, 1),
          integer("num_workers", 2, "loader worker threads", 1),
          integer("prefetch_batches", 4, "batches the loader may hold ready", 1),
          object("image", "pixel preprocessing", {
              integer("size", 336, "side of the square the image is resized and cropped to", 1),
              number_list("mean", nlohmann::json::array({0.48145466, 0.4578275, 0.40821073}), 3, "per-channel mean"),
              number_list("std", nlohmann::json::array({0.26862954, 0.26130258, 0.27577711}), 3, "per-channel std"),
              string("aspect", "crop", "crop: resize the short side then center crop; pad: first pad to a square "
                     "with the mean colour (LLaVA-1.5)", {"crop", "pad"}),
          }),
      }),
      integer("seed", 0, "seeds weights, data order and everything random", 0),
  });
  return schema;
}

RunConfig run_config_from_json(const nlohmann::json& raw, const std::string& source) {
  RunConfig c;
  c.source = source;
  c.resolved = validate(run_config_schema(), raw, source);
  const auto& j = c.resolved;
  c.model = model_config_from_json(j.at("model"), source + ": model");
  c.scan_mode = scan_mode_from_string(j.at("model").at("scan_mode"));
  c.tokenizer = {j.at("tokenizer").at("kind"), j.at("tokenizer").at("path")};
  const auto& d = j.at("data");
  c.data.file = d.at("file");
  c.data.image_folder = d.at("image_folder");
  c.data.prompt_style = text::prompt_style_from_string(d.at("prompt_style"));
  c.data.ctx_len = d.at("ctx_len");
  c.data.drop_empty_replies = d.at("drop_empty_replies");
  c.data.max_skip_fraction = d.at("max_skip_fraction");
  c.data.num_workers = d.at("num_workers");
  c.data.prefetch_batches = d.at("prefetch_batches");
  const auto& img = d.at("image");
  c.data.image.size = img.at("size");
  for (int i = 0; i < 3; ++i) {
    c.data.image.mean[i] = img.at("mean")[i].get<float>();
    c.data.image.std[i] = img.at("std")[i].get<float>();
  }
  c.data.image.aspect = img.at("aspect");
  c.seed = j.at("seed");
  if (c.data.image.size != c.model.vision.image_size)
    throw Error(cat(source, ": data.image.size (", c.data.image.size, ") must equal model.vision.image_size (",
                    c.model.vision.image_size, ")"));
  return c;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  VRWKV_CHECK(in.good(), path, ": cannot open the config file");
  nlohmann::json raw;
  try {
    raw = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(cat(path, ": not valid JSON: ", e.what()));
  }
  for (const auto& o : overrides) apply_override(raw, o);
  return run_config_from_json(raw, path);
}

}  // namespace vrwkv
