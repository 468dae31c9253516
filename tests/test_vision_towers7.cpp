// v7's vision towers (SPEC-v7 section 5): the timm ViT as DINOv2-reg4 and SigLIP use it, SAM's image
// encoder with its neck and space-to-depth, the position-embedding resampling timm applies when
// loading, the 3200-channel concatenation and reading the three checkpoint files. No fixture of the
// original's v7 exists yet: each is checked against the float64 reference of vision_towers7_reference.h
// on small shapes, the float64 module to 1e-10 and the float32 module to float32 rounding.
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "base/error.h"
#include "catch_compat.h"
#include "io/tensor_file.h"
#include "model/sam_encoder.h"
#include "model/vision_towers7.h"
#include "model/vit_tower.h"
#include "tensor_compare.h"
#include "tiny_models7.h"
#include "test_paths.h"
#include "train/vision_tower_files7.h"
#include "vision_towers7_reference.h"

namespace {

using namespace vrwkv;
using test::relative_error;

void randomise(torch::nn::Module& m) { test::randomise_uniform(m); }

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

using test::tiny_dino;
using test::tiny_sam;
using test::tiny_siglip;
using test::tiny_towers;

// The float64 module against the reference image by image, and the same weights in float32.
void check_vit(const VitTowerConfig& c) {
  torch::manual_seed(7);
  VitTower tower(c);
  randomise(*tower);
  REQUIRE(tower->blocks->size() == size_t(c.output_block() + 1));
  tower->to(torch::kFloat64);
  const auto pixels = torch::randn({2, 3, c.image_size, c.image_size}, torch::kFloat64);
  const auto out = tower->forward(pixels);
  REQUIRE(out.sizes() == torch::IntArrayRef({2, c.num_patches(), c.width}));
  const auto P = test::params_of(*tower);
  for (int64_t n = 0; n < 2; ++n) {
    const auto ref = test::reference_vit_tower(pixels[n], P, c.patch, c.heads, c.output_block(), c.register_tokens,
                                               c.class_token, c.layer_scale, c.eps);
    CHECK(max_abs_diff(out[n], ref) < 1e-10);
    CHECK(ref.abs().max().item<double>() > 0.1);  // not a vanishing output
  }
  tower->to(torch::kFloat32);
  CHECK(relative_error(tower->forward(pixels.to(torch::kFloat32)), out) < 1e-5);
}

}  // namespace

TEST_CASE("the DINOv2 tower (class token, registers, LayerScale) matches a float64 reference", "[towers7]") {
  check_vit(tiny_dino());
}

TEST_CASE("the SigLIP tower (no prefix tokens, no LayerScale) matches a float64 reference", "[towers7]") {
  check_vit(tiny_siglip());
}

TEST_CASE("the full-size tower configurations are the original's", "[towers7]") {
  const auto dino = dinov2_large_reg4_config();
  CHECK(dino.grid_side() == 32);
  CHECK(dino.prefix_tokens() == 5);
  CHECK(dino.output_block() == 22);
  const auto siglip = siglip_so400m_config();
  CHECK(siglip.grid_side() == 32);
  CHECK(siglip.prefix_tokens() == 0);
  CHECK(siglip.output_block() == 25);
  CHECK(siglip.mlp_width == 4304);
  const auto sam = sam_vit_b_config();
  CHECK(sam.grid_side() == 64);
  CHECK(sam.output_side() == 32);
  CHECK(sam.output_channels() == 1024);
  const VisionTowers7Config all;
  CHECK_NOTHROW(all.validate());
  CHECK(all.tokens() == 1024);
  CHECK(all.embed_dim() == 3200);
}

TEST_CASE("position embeddings are resampled as timm does: bicubic with antialias", "[towers7]") {
  torch::manual_seed(3);
  SECTION("shrinking (DINOv2: 37 -> 32) and growing (SigLIP: 27 -> 32), here 7 -> 4 and 3 -> 5") {
    for (const auto& [from, to] : {std::pair<int64_t, int64_t>{7, 4}, {3, 5}}) {
      INFO(from << " -> " << to);
      const auto pos = torch::randn({1, from * from, 5});
      const auto out = resample_position_embedding(pos, to);
      REQUIRE(out.sizes() == torch::IntArrayRef({1, to * to, 5}));
      CHECK(out.scalar_type() == torch::kFloat32);
      CHECK(relative_error(out, test::reference_resample(pos, to)) < 1e-6);
    }
  }
  SECTION("an embedding already on the grid is kept, a non-square one is refused") {
    const auto pos = torch::randn({1, 16, 3});
    CHECK(resample_position_embedding(pos, 4).data_ptr() == pos.data_ptr());
    CHECK_THROWS_WITH(resample_position_embedding(torch::randn({1, 15, 3}), 4),
                      test::contains("not a square grid"));
  }
}

TEST_CASE("space-to-depth puts in[c, 2y+dy, 2x+dx] at out[4c + 2dy + dx, y, x]", "[towers7]") {
  const auto in = torch::arange(2 * 3 * 4 * 6, torch::kFloat64).view({2, 3, 4, 6});
  const auto out = space_to_depth(in);
  REQUIRE(out.sizes() == torch::IntArrayRef({2, 12, 2, 3}));
  bool all_equal = true;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t dy = 0; dy < 2; ++dy)
        for (int64_t dx = 0; dx < 2; ++dx)
          for (int64_t y = 0; y < 2; ++y)
            for (int64_t x = 0; x < 3; ++x)
              all_equal = all_equal && out[b][4 * c + 2 * dy + dx][y][x].item<double>() ==
                                           in[b][c][2 * y + dy][2 * x + dx].item<double>();
  CHECK(all_equal);
  CHECK_THROWS_WITH(space_to_depth(torch::zeros({1, 2, 3, 4})), test::contains("even"));
}

TEST_CASE("the SAM encoder (windows with padding, global blocks, relative positions, neck) matches a float64 reference",
          "[towers7]") {
  const auto c = tiny_sam();
  torch::manual_seed(11);
  SamEncoder sam(c);
  randomise(*sam);
  // Windowed blocks hold [2w-1, hd] relative tables, global ones [2G-1, hd].
  const auto& block0 = *sam->blocks[0]->as<SamBlockImpl>();
  const auto& block1 = *sam->blocks[1]->as<SamBlockImpl>();
  CHECK(block0.window == 4);
  CHECK(block0.attn->rel_pos_h.sizes() == torch::IntArrayRef({7, 4}));
  CHECK(block1.window == 0);
  CHECK(block1.attn->rel_pos_w.sizes() == torch::IntArrayRef({11, 4}));
  sam->to(torch::kFloat64);
  const auto pixels = torch::randn({2, 3, 12, 12}, torch::kFloat64);
  const auto out = sam->forward(pixels);
  REQUIRE(out.sizes() == torch::IntArrayRef({2, 9, 16}));
  const auto P = test::params_of(*sam);
  for (int64_t n = 0; n < 2; ++n) {
    const auto ref = test::reference_sam_encoder(pixels[n], P, c.patch, c.heads, c.window, c.global_blocks, c.depth, c.eps);
    CHECK(max_abs_diff(out[n], ref) < 1e-10);
    CHECK(ref.abs().max().item<double>() > 0.1);
  }
  sam->to(torch::kFloat32);
  CHECK(relative_error(sam->forward(pixels.to(torch::kFloat32)), out) < 1e-5);
}

TEST_CASE("the three towers' features are concatenated per token, frozen, without autograd", "[towers7]") {
  torch::manual_seed(5);
  VisionTowers7 towers(tiny_towers());
  randomise(*towers);
  for (const auto& p : towers->parameters()) REQUIRE_FALSE(p.requires_grad());
  // The original checkpoint's names under vit. (SPEC-v7 section 9).
  const auto names = towers->named_parameters();
  for (const char* name : {"dino_featurizer.cls_token", "dino_featurizer.reg_token", "dino_featurizer.blocks.0.ls1.gamma",
                           "dino_featurizer.blocks.2.mlp.fc2.weight", "siglip_featurizer.pos_embed",
                           "siglip_featurizer.blocks.1.attn.qkv.bias", "sam_featurizer.patch_embed.proj.weight",
                           "sam_featurizer.blocks.0.attn.rel_pos_w", "sam_featurizer.blocks.2.mlp.lin1.weight",
                           "sam_featurizer.neck.0.weight", "sam_featurizer.neck.1.bias", "sam_featurizer.neck.3.weight"}) {
    INFO(name);
    CHECK(names.contains(name));
  }
  CHECK_FALSE(names.contains("siglip_featurizer.cls_token"));
  const TowerPixels pixels{torch::randn({3, 3, 6, 6}), torch::randn({3, 3, 9, 9}), torch::randn({3, 3, 12, 12})};
  const auto out = towers->forward(pixels);
  REQUIRE(out.sizes() == torch::IntArrayRef({3, 9, 8 + 6 + 16}));
  CHECK_FALSE(out.requires_grad());
  CHECK(towers->config.embed_dim() == 30);
  torch::NoGradGuard no_grad;
  CHECK(torch::equal(out.narrow(2, 0, 8), towers->dino(pixels.dino)));
  CHECK(torch::equal(out.narrow(2, 8, 6), towers->siglip(pixels.siglip)));
  CHECK(torch::equal(out.narrow(2, 14, 16), towers->sam(pixels.sam)));

  SECTION("towers on different grids, or different image counts, are refused") {
    auto bad = tiny_towers();
    bad.sam = tiny_sam(16);  // 8x8 -> 4x4, not 3x3
    CHECK_THROWS_WITH(VisionTowers7(bad), test::contains("sam's grid"));
    const TowerPixels uneven{pixels.dino, pixels.siglip.narrow(0, 0, 2), pixels.sam};
    CHECK_THROWS_WITH(towers->forward(uneven), test::contains("3 images for dino but 2 for siglip"));
  }
}

namespace {

// The towers' files as the original's downloads hold them: timm names for DINOv2 (its position
// embedding on a larger grid, the last block and the final norm present), open_clip's visual.trunk.
// keys beside text-tower keys for SigLIP, Meta's image_encoder. keys beside the mask decoder for SAM.
struct TowerFiles {
  io::NamedTensors dino, siglip, sam;
};

TowerFiles tower_files(const VisionTowers7& source) {
  TowerFiles f;
  for (const auto& item : source->dino->named_parameters())
    if (item.key() != "pos_embed") f.dino.emplace_back(item.key(), item.value().detach().clone());
  f.dino.emplace_back("pos_embed", torch::randn({1, 25, 8}));  // a 5x5 grid
  f.dino.emplace_back("blocks.3.norm1.weight", torch::randn({8}));
  f.dino.emplace_back("norm.weight", torch::randn({8}));
  f.dino.emplace_back("mask_token", torch::randn({1, 8}));
  for (const auto& item : source->siglip->named_parameters())
    f.siglip.emplace_back("visual.trunk." + item.key(), item.value().detach().clone());
  f.siglip.emplace_back("visual.trunk.attn_pool.latent", torch::randn({1, 1, 6}));
  f.siglip.emplace_back("text.token_embedding.weight", torch::randn({4, 6}));
  f.siglip.emplace_back("logit_scale", torch::randn({1}));
  for (const auto& item : source->sam->named_parameters())
    f.sam.emplace_back("image_encoder." + item.key(), item.value().detach().clone());
  f.sam.emplace_back("mask_decoder.iou_token.weight", torch::randn({1, 4}));
  return f;
}

void write_files(const std::filesystem::path& dir, const TowerFiles& f) {
  for (const auto& [rel, tensors] : {std::pair{train::kDinoTowerFile, &f.dino}, std::pair{train::kSiglipTowerFile, &f.siglip},
                                     std::pair{train::kSamTowerFile, &f.sam}}) {
    const auto path = dir / rel;
    std::filesystem::create_directories(path.parent_path());
    io::save_tensors(path.string(), *tensors);
  }
}

}  // namespace

TEST_CASE("the towers load from the original's three files under the vision tower folder", "[towers7]") {
  torch::manual_seed(9);
  VisionTowers7 source(tiny_towers());
  randomise(*source);
  auto files = tower_files(source);
  const auto dir = test::scratch_dir("towers7");
  write_files(dir, files);

  VisionTowers7 towers(tiny_towers());
  const auto sources = train::load_vision_towers7(towers, dir.string());
  for (const auto& item : source->named_parameters()) {
    INFO(item.key());
    if (item.key() == "dino_featurizer.pos_embed") {
      const auto expected = resample_position_embedding(io::find_tensor(files.dino, "pos_embed"), 3);
      CHECK(torch::equal(towers->dino->pos_embed, expected));
    } else {
      CHECK(torch::equal(towers->named_parameters()[item.key()], item.value()));
    }
  }
  for (const auto& p : towers->parameters()) CHECK_FALSE(p.requires_grad());

  // Every weight but the resampled position embedding is a file's tensor unchanged: checkpoints refer
  // to it (file, key, hash) instead of storing it, and the reference reads back the same values.
  CHECK(sources.size() == towers->named_parameters().size() - 1);
  CHECK(sources.count("dino_featurizer.pos_embed") == 0);
  CHECK(sources.at("siglip_featurizer.pos_embed").key == "visual.trunk.pos_embed");  // its grid already fits
  CHECK(sources.at("sam_featurizer.neck.0.weight").key == "image_encoder.neck.0.weight");
  CHECK(sources.at("dino_featurizer.blocks.0.attn.qkv.weight").key == "blocks.0.attn.qkv.weight");
  CHECK(sources.at("dino_featurizer.blocks.0.attn.qkv.weight").file ==
        std::filesystem::absolute(dir / train::kDinoTowerFile).lexically_normal().string());
  std::vector<train::FrozenReference> refs;
  for (const auto& [name, src] : sources) refs.push_back({name, 0, torch::kFloat32, src});
  const auto resolved = train::resolve_frozen_references(dir.string(), refs);
  REQUIRE(resolved.size() == sources.size());
  for (const auto& [name, value] : resolved) {
    INFO(name);
    CHECK(torch::equal(value, towers->named_parameters()[name]));
  }

  SECTION("a missing weight names the file and the key") {
    io::NamedTensors without;
    for (const auto& kv : files.sam)
      if (kv.first != "image_encoder.blocks.2.attn.rel_pos_h") without.push_back(kv);
    files.sam = without;
    write_files(dir, files);
    VisionTowers7 fresh(tiny_towers());
    CHECK_THROWS_WITH(train::load_vision_towers7(fresh, dir.string()),
                      test::contains("sam_vit_b_01ec64.pth: missing key 'sam_featurizer.blocks.2.attn.rel_pos_h'"));
  }
  SECTION("a missing file names its path") {
    std::filesystem::remove(dir / train::kSiglipTowerFile);
    CHECK_THROWS_WITH(train::load_vision_towers7(towers, dir.string()),
                      test::contains("open_clip_pytorch_model.bin not found"));
  }
}
