// The option-letter parse of the multiple-choice scorers (score_choice.cpp).
#pragma once
#include <string>

namespace vrwkv::eval {

inline constexpr const char* kFailedChoice = "FAILED";

// The evaluation's three rules, in order: the answer is exactly one of `options`; or it starts with
// one of them followed by ". "; or "The answer is X" followed by one more character (not a line
// break) occurs exactly once, X any capital letter. Otherwise kFailedChoice.
std::string parse_choice_letter(const std::string& text, const std::string& options);

}  // namespace vrwkv::eval
