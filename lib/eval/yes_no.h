// How the yes/no benchmarks read an answer (score_pope.cpp, score_mme.cpp).
#pragma once
#include <string>

namespace vrwkv::eval {

// POPE (LLaVA's eval_pope.py): the text before its first period, commas removed, split at single
// spaces; a piece equal to "No", "not" or "no" means no, anything else yes.
bool pope_says_yes(const std::string& answer);

// MME (its calculation.py): lower-cased; exactly "yes" or "no" is that; else "yes" within the first
// four characters is yes, else "no" there is no, else "other" (counted wrong).
std::string mme_yes_no(const std::string& answer);

}  // namespace vrwkv::eval
