#include "infer/eval_run.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "base/atomic_file.h"
#include "base/error.h"
#include "eval/answers.h"

namespace vrwkv {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Questions are known by their place in the file and their id: some benchmarks (MME) give two
// questions one id.
std::string answer_key(int64_t index, const nlohmann::json& id) { return cat(index, "\t", eval::id_key(id)); }

// The complete lines of a file (those ending in a newline) that parse as answer lines, by id.
void read_complete_answers(const std::string& path, std::map<std::string, std::string>* lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) return;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  size_t start = 0;
  for (size_t end; (end = data.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string line = data.substr(start, end - start);
    try {
      const auto j = nlohmann::json::parse(line);
      if (!j.is_object() || !j.contains("question_id") || !j.contains("text") || !j.contains("metadata")) continue;
      const auto& m = j["metadata"];
      if (m.is_object() && m.contains("question_index") && m["question_index"].is_number_integer())
        (*lines)[answer_key(m["question_index"].get<int64_t>(), j["question_id"])] = line;
    } catch (const nlohmann::json::exception&) {
      // a line torn by a crash: its question is answered again
    }
  }
}

std::vector<std::string> part_files(const std::string& answers) {
  std::vector<std::string> out;
  const fs::path p(answers);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::exists(dir)) return out;
  const std::string prefix = p.filename().string() + ".rank";
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, std::string> all_answer_lines(const std::string& answers) {
  std::map<std::string, std::string> lines;
  read_complete_answers(answers, &lines);
  for (const auto& part : part_files(answers)) read_complete_answers(part, &lines);
  return lines;
}

// Drops a torn last line of this rank's own part file, so the next append starts on a fresh line.
void truncate_to_complete_lines(const std::string& path) {
  if (!fs::exists(path)) return;
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  const auto last_newline = data.rfind('\n');
  const auto keep = last_newline == std::string::npos ? 0 : last_newline + 1;
  if (keep != data.size()) fs::resize_file(path, keep);
}

// Each question's sampling seed comes from its id, so an answer does not depend on the batch it
// was in, on the rank that answered it or on where a resumed run restarted.
uint64_t question_seed(uint64_t base, const nlohmann::json& id) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : eval::id_key(id)) h = (h ^ c) * 1099511628211ull;
  return h ^ base;
}

std::string format_eta(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

}  // namespace

std::string answer_part_path(const std::string& answers, int rank) { return cat(answers, ".rank", rank); }

std::set<std::string> answered_ids(const std::string& answers) {
  std::set<std::string> ids;
  for (const auto& [id, line] : all_answer_lines(answers)) ids.insert(id);
  return ids;
}

EvalRunStats answer_questions(QuestionDecoder& decoder, const std::vector<eval::Question>& questions,
                              const QuestionImages& images, const EvalRunOptions& options) {
  VRWKV_CHECK(options.world_size >= 1 && options.rank >= 0 && options.rank < options.world_size, "eval: rank ",
              options.rank, " of ", options.world_size);
  VRWKV_CHECK(options.batch_size >= 1, "eval: the batch size must be positive");
  EvalRunStats stats;
  stats.questions = static_cast<int64_t>(questions.size());
  const auto start = Clock::now();
  const std::string part = answer_part_path(options.answers, options.rank);
  if (fs::path(part).has_parent_path()) fs::create_directories(fs::path(part).parent_path());
  truncate_to_complete_lines(part);
  const auto done = answered_ids(options.answers);

  std::vector<int64_t> todo;  // question indices
  for (size_t i = 0; i < questions.size(); ++i) {
    if (static_cast<int>(i % static_cast<size_t>(options.world_size)) != options.rank) continue;
    ++stats.mine;
    if (done.count(answer_key(static_cast<int64_t>(i), questions[i].question_id))) ++stats.already_answered;
    else todo.push_back(static_cast<int64_t>(i));
  }
  std::fprintf(stderr, "eval: rank %d of %d: %lld questions, %lld answered before, %lld to answer\n", options.rank,
               options.world_size, static_cast<long long>(stats.mine), static_cast<long long>(stats.already_answered),
               static_cast<long long>(todo.size()));

  std::ofstream out(part, std::ios::app | std::ios::binary);
  VRWKV_CHECK(out.good(), part, ": cannot write");
  auto last_report = Clock::now();
  for (size_t first = 0; first < todo.size(); first += static_cast<size_t>(options.batch_size)) {
    const size_t end = std::min(todo.size(), first + static_cast<size_t>(options.batch_size));
    std::vector<DecodeRequest> requests;
    std::vector<std::string> image_error(end - first);
    for (size_t i = first; i < end; ++i) {
      const auto& q = questions[todo[i]];
      DecodeRequest r{q.text, torch::Tensor(), question_seed(options.generate.seed, q.question_id)};
      try {
        auto pixels = images(q);
        r.image = std::move(pixels.image);
        r.towers = std::move(pixels.towers);
      } catch (const std::exception& e) {
        image_error[i - first] = e.what();
        stats.image_problems.push_back(cat(q.question_id.dump(), " (", q.where, "): ", e.what()));
        std::fprintf(stderr, "eval: %s: answered without its image: %s\n", q.where.c_str(), e.what());
      }
      requests.push_back(std::move(r));
    }
    const auto results = decoder.run(requests, options.generate);
    for (size_t i = first; i < end; ++i) {
      const auto& q = questions[todo[i]];
      const auto& r = results[i - first];
      nlohmann::ordered_json metadata = q.metadata.is_object() ? q.metadata : nlohmann::ordered_json::object();
      metadata["question_index"] = todo[i];
      if (!image_error[i - first].empty()) metadata["image_error"] = image_error[i - first];
      const nlohmann::ordered_json line = {{"question_id", q.question_id}, {"prompt", r.prompt},
                                           {"text", r.decoded.answer},   {"avg_logit", r.decoded.avg_logit},
                                           {"avg_prob", r.decoded.avg_prob}, {"model_id", options.model_id},
                                           {"metadata", metadata}};
      // An answer cut by the token limit may end inside a UTF-8 character: replace, never fail.
      out << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
      stats.generated_tokens += r.decoded.chosen;
      ++stats.answered;
    }
    out.flush();  // what is answered survives an interruption
    VRWKV_CHECK(out.good(), part, ": write failed");
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (std::chrono::duration<double>(Clock::now() - last_report).count() >= options.report_every_s ||
        end == todo.size()) {
      last_report = Clock::now();
      const double rate = stats.answered / std::max(elapsed, 1e-9);
      const double left = double(todo.size() - end) / std::max(rate, 1e-9);
      std::fprintf(stderr, "eval: rank %d: %zu/%zu answered, %.2f answers/s, %.1f tokens/s, ETA %s\n", options.rank,
                   end, todo.size(), rate, stats.generated_tokens / std::max(elapsed, 1e-9), format_eta(left).c_str());
    }
  }
  stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return stats;
}

int64_t merge_answers(const std::vector<eval::Question>& questions, const std::string& answers, double poll_s) {
  auto last_note = Clock::now();
  std::map<std::string, std::string> lines;
  while (true) {
    lines = all_answer_lines(answers);
    int64_t missing = 0;
    for (size_t i = 0; i < questions.size(); ++i)
      missing += lines.count(answer_key(static_cast<int64_t>(i), questions[i].question_id)) ? 0 : 1;
    if (missing == 0) break;
    if (std::chrono::duration<double>(Clock::now() - last_note).count() >= 60) {
      last_note = Clock::now();
      std::fprintf(stderr, "eval: waiting for the other ranks: %lld questions unanswered\n",
                   static_cast<long long>(missing));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(poll_s));
  }
  std::string merged;
  for (size_t i = 0; i < questions.size(); ++i)
    merged += lines.at(answer_key(static_cast<int64_t>(i), questions[i].question_id)) + "\n";
  write_file_atomically(answers, merged);
  for (const auto& part : part_files(answers)) fs::remove(part);
  return static_cast<int64_t>(questions.size());
}

}  // namespace vrwkv
